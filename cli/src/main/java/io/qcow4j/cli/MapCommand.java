package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageMap;
import io.qcow4j.ops.MapEntry;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** qemu-img map: the allocation extents of an image, merged and printed as qemu-img prints them. */
@Command(
    name = "map",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Print the allocation map of an image (depth, present, zero, data, host offset), like qemu-img map.")
final class MapCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human", description = "Output format (default: ${DEFAULT-VALUE}).")
  String output;

  @Option(names = {"-s", "--start-offset"}, paramLabel = "OFFSET", description = "Guest offset to start at (k, M, G, T suffixes).")
  String startOffset;

  @Option(names = {"-l", "--max-length"}, paramLabel = "LENGTH", description = "At most this many bytes (k, M, G, T suffixes).")
  String maxLength;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share: read while others may write.")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() {
    OutputFormat outputFormat = OutputFormat.parse(output);
    long start = startOffset == null ? 0 : SizeOption.parse("start offset", startOffset);
    long length = maxLength == null ? -1 : SizeOption.parse("max length", maxLength);
    PrintWriter out = spec.commandLine().getOut();
    Secrets secrets = ImageArguments.secrets(objects.definitions, out);
    if (secrets == null) {
      return 0;
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, forceShare, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readOnlyDefaults()
        .withSharedPermissions(ImageArguments.SHARE_ALL), secrets, spec.commandLine().getErr())) {
      if (outputFormat == OutputFormat.JSON) {
        printJson(disk, start, length, out);
      } else {
        printHuman(disk, start, length, out);
      }
    } catch (CommandFailure e) {
      throw e;
    } catch (IOException e) {
      throw new CommandFailure("Could not read file metadata of '" + file + "': " + Failures.reason(e, file), 1, e);
    }
    return 0;
  }

  private static void printJson(DiskFile disk, long start, long length, PrintWriter out) throws IOException {
    out.print('[');
    boolean[] first = {true};
    ImageMap.walk(disk, start, length, entry -> {
      if (!first[0]) {
        out.println(',');
      }
      first[0] = false;
      out.print(json(entry));
    });
    if (first[0]) {
      // qemu-img prints its empty starting entry when there is nothing to map
      out.print(json(new MapEntry(start, 0, 0, false, false, false, -1, null)));
    }
    out.println(']');
    out.flush();
  }

  /** One entry as qemu-img's dump_map_entry prints it in JSON. */
  static String json(MapEntry entry) {
    StringBuilder line = new StringBuilder()
        .append("{ \"start\": ").append(entry.start())
        .append(", \"length\": ").append(entry.length())
        .append(", \"depth\": ").append(entry.depth())
        .append(", \"present\": ").append(entry.present())
        .append(", \"zero\": ").append(entry.zero())
        .append(", \"data\": ").append(entry.data());
    if (entry.hasOffset()) {
      line.append(", \"offset\": ").append(entry.offset());
    }
    return line.append('}').toString();
  }

  private void printHuman(DiskFile disk, long start, long length, PrintWriter out) throws IOException {
    out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
    ImageMap.walk(disk, start, length, entry -> {
      if (entry.data() && !entry.hasOffset()) {
        out.flush();
        throw new CommandFailure(file + ": File contains external, encrypted or compressed clusters"
            + " (their host offsets cannot be shown; use --output=json)", 1);
      }
      if (entry.data() && !entry.zero()) {
        out.print(hexColumn(entry.start()) + hexColumn(entry.length()) + hexColumn(entry.hasOffset() ? entry.offset() : 0)
            + (entry.filename() != null ? entry.filename() : "") + "\n");
      }
    });
    out.flush();
  }

  /** printf("%#-16" PRIx64): "0x"-prefixed hex (plain "0" for zero), left-aligned in 16 columns. */
  static String hexColumn(long value) {
    String hex = value == 0 ? "0" : "0x" + Long.toHexString(value);
    return hex.length() >= 16 ? hex : hex + " ".repeat(16 - hex.length());
  }
}
