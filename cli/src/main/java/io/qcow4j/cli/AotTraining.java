package io.qcow4j.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training runs of the JVM's ahead-of-time caches (bin/qcow4j makes them once per build): the
 * commands people run most, on small images in a scratch directory, so that their classes are
 * loaded and linked from the cache when the tool starts.
 *
 * <p>Two caches. The whole tool's: {@code AotTraining [DIRECTORY]} runs every command below, in
 * {@code DIRECTORY} (left in place, for the second training) or in a temporary directory. The
 * metadata commands': {@code AotTraining info DIRECTORY} runs --version, --help and info over the
 * images the first training left there. The JVM loads and links every class of its cache before
 * the command's first line runs, so info and --version start faster from the small cache (1,500
 * classes against 2,300: bench/RESULTS.md).
 */
final class AotTraining {
  private AotTraining() {}

  public static void main(String[] args) throws IOException {
    if (args.length == 2 && args[0].equals("info")) {
      metadata(Path.of(args[1]));
      return;
    }
    Path directory = args.length == 1 ? Files.createDirectories(Path.of(args[0]))
        : Files.createTempDirectory("qcow4j-training");
    try {
      everything(directory);
    } finally {
      if (args.length == 0) {
        try (Stream<Path> paths = Files.walk(directory)) {
          paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
      }
    }
  }

  private static void everything(Path directory) {
    try (PrintWriter quiet = new PrintWriter(Writer.nullWriter())) {
      String base = directory.resolve("base.qcow2").toString();
      String top = directory.resolve("top.qcow2").toString();
      String raw = directory.resolve("copy.raw").toString();
      String copy = directory.resolve("copy.qcow2").toString();
      List<String[]> commands = List.of(
          new String[] {"--version"},
          new String[] {"create", "-q", "-f", "qcow2", base, "4M"},
          new String[] {"io", "-c", "write -P 1 0 64k", "-c", "write -z 1M 64k", "-c", "read -P 1 0 4k", base},
          new String[] {"create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top},
          new String[] {"info", top},
          new String[] {"info", "--output=json", "--backing-chain", top},
          new String[] {"map", "--output=json", top},
          new String[] {"check", top},
          new String[] {"convert", "-O", "raw", top, raw},
          new String[] {"convert", "-O", "qcow2", raw, copy},
          new String[] {"compare", top, copy},
          new String[] {"snapshot", "-l", copy},
          new String[] {"measure", "-O", "qcow2", raw},
          new String[] {"convert", "-c", "-O", "qcow2", raw, directory.resolve("zlib.qcow2").toString()},
          new String[] {"convert", "-O", "raw", directory.resolve("zlib.qcow2").toString(), raw});
      for (String[] command : commands) {
        Main.run(quiet, quiet, command);
      }
      // the other formats, written and read back as an import or export converts them
      for (String format : OTHER_FORMATS) {
        String image = directory.resolve("copy." + format).toString();
        Main.run(quiet, quiet, "convert", "-O", format, copy, image);
        Main.run(quiet, quiet, "convert", "-O", "qcow2", image, directory.resolve(format + ".qcow2").toString());
        Main.run(quiet, quiet, "info", image);
      }
    }
  }

  /** --version, --help and info (both outputs, a backing chain, each format) over the images of {@link #everything}. */
  private static void metadata(Path directory) {
    try (PrintWriter quiet = new PrintWriter(Writer.nullWriter())) {
      String top = directory.resolve("top.qcow2").toString();
      Main.run(quiet, quiet, "--version");
      Main.run(quiet, quiet, "--help");
      Main.run(quiet, quiet, "info", top);
      Main.run(quiet, quiet, "info", "--output=json", "--backing-chain", top);
      Main.run(quiet, quiet, "info", directory.resolve("zlib.qcow2").toString());
      Main.run(quiet, quiet, "info", directory.resolve("copy.raw").toString());
      for (String format : OTHER_FORMATS) {
        Main.run(quiet, quiet, "info", directory.resolve("copy." + format).toString());
      }
    }
  }

  private static final List<String> OTHER_FORMATS = List.of("vmdk", "vhdx", "vpc", "vdi");
}
