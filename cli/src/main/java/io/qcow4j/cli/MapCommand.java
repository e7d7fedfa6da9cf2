package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageMap;
import io.qcow4j.ops.MapEntry;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** qemu-img map: the allocation extents of an image, merged and printed as qemu-img prints them. */
final class MapCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String output = "human";
  String startOffset;
  String maxLength;
  /** -s and -l parsed (qemu-img parses each once, as it comes). */
  long startBytes;
  long lengthBytes = -1;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private MapCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_map does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    MapCommand command = new MapCommand(invocation);
    Getopt getopt = invocation.getopt(":f:s:l:hU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("format", 'f'),
        Getopt.LongOption.withArgument("output", Invocation.OUTPUT),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U'),
        Getopt.LongOption.withArgument("start-offset", 's'),
        Getopt.LongOption.withArgument("max-length", 'l')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'U' -> command.forceShare = true;
        case Invocation.OUTPUT -> command.output = getopt.optarg();
        case 's' -> {
          command.startOffset = getopt.optarg();
          if (!invocation.valid(() -> command.startBytes = SizeOption.parse("start offset", command.startOffset))) {
            return 1;
          }
        }
        case 'l' -> {
          command.maxLength = getopt.optarg();
          if (!invocation.valid(() -> command.lengthBytes = SizeOption.parse("max length", command.maxLength))) {
            return 1;
          }
        }
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting one image file name");
    }
    command.file = operands.getFirst();
    return invocation.execute(command);
  }

  @Override
  public Integer call() {
    OutputFormat outputFormat = OutputFormat.parse(output);
    // parsed once, as the options came (qemu_strtosz warns each time it parses)
    long start = startBytes;
    long length = lengthBytes;
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readOnlyDefaults()
        .withSharedPermissions(ImageArguments.SHARE_ALL), secrets, err)) {
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
        // qemu-img's words: data at no host offset cannot be shown in this format (--output=json can)
        throw new CommandFailure("File contains external, encrypted or compressed clusters.", 1);
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
