package io.qcow4j.cli.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.nbd.testkit.Commands;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request through the NBD server that finds the image corrupt marks it and makes it unusable, as
 * qemu-nbd's node after qcow2_signal_corruption: that request fails with EIO, every later one with
 * EINVAL (qemu-nbd's errno for ENOMEDIUM), side by side with qemu-nbd, with qemu-io as the client.
 */
class ServeCorruptionIT {
  @TempDir Path dir;

  @Test
  void requestsAfterAFatalCorruptionFailAsQemuNbdFailsThem() throws Exception {
    String theirs = throughServer(NbdServerProcess.Kind.QEMU_NBD, "theirs");
    String ours = throughServer(NbdServerProcess.Kind.QCOW4J, "ours");
    assertThat(theirs).as("qemu-nbd's answers").isEqualTo("read failed: Input/output error\n"
        + "read failed: Invalid argument\nwrite failed: Invalid argument\n");
    assertThat(ours).as("qcow4j serve's answers").isEqualTo(theirs);
    assertThat(corruptBit(dir.resolve("ours.qcow2"))).as("the corrupt bit").isTrue();
  }

  /** The answers qemu-io gets from {@code kind} serving a fresh corrupt image; checks the server's stderr. */
  private String throughServer(NbdServerProcess.Kind kind, String name) throws Exception {
    Path image = dir.resolve(name + ".qcow2");
    Commands.check("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
    Commands.check("qemu-io", "-f", "qcow2", "-c", "write 0 64k", image.toString());
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.WRITE)) {
      // the first L2 entry (iotest 060's table at 0x40000) points at an unaligned host offset
      file.write(ByteBuffer.allocate(8).putLong(0, 0x8000000000052a00L), 0x40000);
    }
    Path socket = dir.resolve(name + ".sock");
    try (NbdServerProcess server = NbdServerProcess.start(kind, image, socket)) {
      Commands.Result run = Commands.run("qemu-io", "-f", "raw", "-c", "read 0 512", "-c", "read 0 512",
          "-c", "write 0 512", "-c", "flush", "nbd+unix:///?socket=" + socket);
      server.terminate();
      assertThat(server.stderr()).as(kind + "'s stderr").contains("qcow2: Marking image as corrupt: Cluster"
          + " allocation offset 0x52a00 unaligned (L2 offset: 0x40000, L2 index: 0); further corruption events"
          + " will be suppressed");
      assertThat(server.stderr()).as(kind + "'s stderr").doesNotContain("closing");
      return run.out();
    }
  }

  private static boolean corruptBit(Path image) throws IOException {
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ)) {
      ByteBuffer features = ByteBuffer.allocate(8);
      file.read(features, 72);
      return (features.getLong(0) & 2) != 0;
    }
  }
}
