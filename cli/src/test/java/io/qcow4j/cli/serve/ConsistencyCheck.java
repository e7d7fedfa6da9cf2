package io.qcow4j.cli.serve;

import io.qcow4j.nbd.testkit.Commands;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * qemu-img check of a killed image: no corruption, leaks allowed. An image left dirty with lazy
 * refcounts has stale refcounts by design (QEMU repairs them when it opens it read-write), so a
 * copy of it is repaired with check -r all and must then check clean.
 */
final class ConsistencyCheck {
  private ConsistencyCheck() {}

  /** The problem found, or null when the image is consistent. */
  static String problem(Path image) throws IOException, InterruptedException {
    Commands.Result check = Commands.run("qemu-img", "check", image.toString());
    if (check.exitCode() == 0 || check.exitCode() == 3) {
      return null;
    }
    if (check.exitCode() == 2 && dirty(image)) {
      Path copy = image.resolveSibling(image.getFileName() + ".repaired");
      try {
        Files.copy(image, copy, StandardCopyOption.REPLACE_EXISTING);
        Commands.Result repair = Commands.run("qemu-img", "check", "-r", "all", copy.toString());
        Commands.Result recheck = Commands.run("qemu-img", "check", copy.toString());
        if (recheck.exitCode() == 0) {
          return null;
        }
        return "dirty image (lazy refcounts) still inconsistent after qemu-img check -r all:\n"
            + repair.all() + recheck.all();
      } finally {
        Files.deleteIfExists(copy);
      }
    }
    return "qemu-img check exited " + check.exitCode() + ":\n" + head(check.all(), 40);
  }

  /** Whether the header's dirty bit (incompatible feature bit 0 of a version 3 header) is set. */
  private static boolean dirty(Path image) throws IOException {
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ)) {
      ByteBuffer header = ByteBuffer.allocate(80);
      file.read(header, 0);
      return header.getInt(4) >= 3 && (header.getLong(72) & 1) != 0;
    }
  }

  static String head(String text, int lines) {
    String[] all = text.split("\n");
    if (all.length <= lines) {
      return text;
    }
    return String.join("\n", java.util.Arrays.copyOf(all, lines)) + "\n... (" + (all.length - lines) + " more lines)";
  }
}
