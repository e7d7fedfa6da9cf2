package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Makes images with the real qemu tools and reads their bytes raw, for the codec tests. A missing
 * tool fails the test (the build promises interop, so it must not silently skip).
 */
final class QemuFixtures {
  private QemuFixtures() {}

  /** Runs a qemu tool in {@code dir}; fails the test on a missing tool, a timeout or a non-zero exit. */
  static String run(Path dir, String... command) {
    List<String> args = new ArrayList<>(List.of(command));
    Process process;
    try {
      process = new ProcessBuilder(args).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      return fail("cannot run " + args.getFirst() + " (install qemu-utils): " + e.getMessage());
    }
    try {
      process.getOutputStream().close();
      byte[] output = process.getInputStream().readAllBytes();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        return fail(String.join(" ", args) + " timed out");
      }
      String text = new String(output, StandardCharsets.UTF_8);
      if (process.exitValue() != 0) {
        return fail(String.join(" ", args) + " exited " + process.exitValue() + ": " + text);
      }
      return text;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return fail("interrupted while running " + args.getFirst());
    }
  }

  /** {@code qemu-img create -q -f qcow2 [-o options] name size} in {@code dir}; returns the image path. */
  static Path create(Path dir, String name, String options, String size) {
    List<String> args = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2"));
    if (!options.isEmpty()) {
      args.add("-o");
      args.add(options);
    }
    args.add(name);
    args.add(size);
    run(dir, args.toArray(String[]::new));
    return dir.resolve(name);
  }

  /** {@code length} bytes of {@code file} from {@code offset} (fewer at the end of the file). */
  static byte[] read(Path file, long offset, int length) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buffer = ByteBuffer.allocate((int) Math.max(0, Math.min(length, channel.size() - offset)));
      while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) >= 0) {
        // read until full or end of file
      }
      return buffer.array();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static long size(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The first cluster of a qcow2 file (the whole file when it is shorter), the way the engine reads it. */
  static byte[] firstCluster(Path file) {
    int clusterBits = ByteBuffer.wrap(read(file, 20, 4)).getInt();
    return read(file, 0, 1 << clusterBits);
  }

  /** Decodes the header of a qcow2 file with {@link HeaderCodec}. */
  static Header header(Path file) throws IOException {
    return HeaderCodec.decode(file.toString(), ByteBuffer.wrap(firstCluster(file)), size(file));
  }

  /** The big-endian unsigned integer of {@code width} bytes at {@code offset}, read straight from the spec's layout. */
  static long be(byte[] bytes, int offset, int width) {
    long value = 0;
    for (int i = 0; i < width; i++) {
      value = (value << 8) | (bytes[offset + i] & 0xffL);
    }
    return value;
  }

  static long be64(Path file, long offset) {
    return ByteBuffer.wrap(read(file, offset, 8)).order(ByteOrder.BIG_ENDIAN).getLong();
  }
}
