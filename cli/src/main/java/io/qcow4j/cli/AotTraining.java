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
 * The training run of the JVM's ahead-of-time cache (bin/qcow4j makes it once per build): the
 * commands people run most, on small images in a scratch directory, so that their classes are
 * loaded and linked from the cache when the tool starts.
 */
final class AotTraining {
  private AotTraining() {}

  public static void main(String[] args) throws IOException {
    Path directory = Files.createTempDirectory("qcow4j-training");
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
      for (String format : List.of("vmdk", "vhdx", "vpc", "vdi")) {
        String image = directory.resolve("copy." + format).toString();
        Main.run(quiet, quiet, "convert", "-O", format, copy, image);
        Main.run(quiet, quiet, "convert", "-O", "qcow2", image, directory.resolve(format + ".qcow2").toString());
        Main.run(quiet, quiet, "info", image);
      }
    } finally {
      try (Stream<Path> paths = Files.walk(directory)) {
        paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
      }
    }
  }
}
