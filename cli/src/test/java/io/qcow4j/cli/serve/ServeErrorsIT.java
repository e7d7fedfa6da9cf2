package io.qcow4j.cli.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.nbd.testkit.Commands;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A request that fails with EIO is one line on the server's stderr, as with qemu-nbd; the stack trace only with --debug. */
class ServeErrorsIT {
  @TempDir Path dir;

  @Test
  void failedReadIsOneLineOnStderr() throws Exception {
    Path image = unreadableImage();
    List<String> lines = readThroughServer(image).lines().toList();
    assertThat(lines).as("stderr of serve").isNotEmpty().allSatisfy(line -> assertThat(line).startsWith("qcow4j: "));
    assertThat(lines.getFirst())
        .matches("qcow4j: client \\d+: NBD_CMD_READ of \\d+ bytes at offset 0 failed: .*does not inflate.*");
  }

  @Test
  void debugAddsTheStackTrace() throws Exception {
    Path image = unreadableImage();
    String stderr = readThroughServer(image, "--debug");
    assertThat(stderr.lines().findFirst()).get().asString().startsWith("qcow4j: client ").contains("NBD_CMD_READ");
    assertThat(stderr).contains("\tat ").contains("CorruptImageException");
  }

  /** Reads the first 4 KiB through bin/qcow4j serve with qemu-io (which fails), stops the server, returns its stderr. */
  private String readThroughServer(Path image, String... extra) throws Exception {
    try (NbdServerProcess server = NbdServerProcess.start(NbdServerProcess.Kind.QCOW4J, image,
        dir.resolve("nbd.sock"), extra)) {
      Commands.Result read = Commands.run("qemu-io", "-r", "-f", "raw", "-c", "read 0 4k",
          "nbd+unix:///?socket=" + dir.resolve("nbd.sock"));
      assertThat(read.all()).as("the read through the server fails").contains("Input/output error");
      server.terminate();
      return server.stderr();
    }
  }

  /** A qcow2 image whose first cluster is compressed data that does not inflate: reading it fails with EIO. */
  private Path unreadableImage() throws IOException, InterruptedException {
    Path plain = dir.resolve("plain.qcow2");
    Path image = dir.resolve("unreadable.qcow2");
    Commands.check("qemu-img", "create", "-q", "-f", "qcow2", plain.toString(), "1M");
    Commands.check("qemu-io", "-f", "qcow2", "-c", "write -P 0x55 0 64k", plain.toString());
    Commands.check("qemu-img", "convert", "-c", "-f", "qcow2", "-O", "qcow2", plain.toString(), image.toString());
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer header = ByteBuffer.allocate(48);
      file.read(header, 0);
      int clusterBits = header.getInt(20);
      long l1 = header.getLong(40);
      long l2 = readLong(file, l1) & 0x00ff_ffff_ffff_fe00L;
      long entry = readLong(file, l2);
      assertThat(entry >>> 62 & 1).as("the first cluster is compressed").isEqualTo(1);
      long hostOffset = entry & ((1L << (62 - (clusterBits - 8))) - 1);
      ByteBuffer garbage = ByteBuffer.allocate(64);
      while (garbage.hasRemaining()) {
        garbage.put((byte) 0xff);
      }
      file.write(garbage.flip(), hostOffset);
    }
    return image;
  }

  private static long readLong(FileChannel file, long position) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(8);
    file.read(buffer, position);
    return buffer.getLong(0);
  }
}
