package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * serve -B NAME and -A against qemu-nbd: nbdinfo --map of each metadata context (dirty bitmaps,
 * allocation depth, base:allocation) and the context list, from both servers over one image chain.
 */
class ServeBitmapsTest {

  @ParameterizedTest
  @ValueSource(strings = {"qemu:dirty-bitmap:b0", "qemu:dirty-bitmap:fine", "qemu:dirty-bitmap:off",
      "qemu:allocation-depth", "base:allocation", "--list"})
  void answersLikeQemuNbd(String context) throws Exception {
    Path scratch = TestImages.scratch();
    Path base = scratch.resolve("base.qcow2");
    Path top = scratch.resolve("top.qcow2");
    Qemu.createQcow2(base, "16M");
    Qemu.io(base, "qcow2", "write 2M 1M");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top.toString());
    Qemu.check("qemu-img", "bitmap", "--add", top.toString(), "b0");
    Qemu.check("qemu-img", "bitmap", "--add", "-g", "4k", top.toString(), "fine");
    Qemu.check("qemu-img", "bitmap", "--add", "--disable", top.toString(), "off");
    Qemu.io(top, "qcow2", "write 1M 4k", "write -z 5M 64k", "discard 9M 128k", "write 15M 100k");
    String[] serve = {"-r", "-f", "qcow2", "-A", "-B", "b0", "-B", "fine", "-B", "off", top.toString()};
    String what = context.equals("--list") ? "--list" : "--map=" + context;

    java.util.List<String> theirs = new java.util.ArrayList<>(java.util.List.of("nbdinfo", what, "--", "[", "qemu-nbd"));
    theirs.addAll(java.util.List.of(serve));
    theirs.add("]");
    String expected = Qemu.check(theirs.toArray(String[]::new));

    Path socket = scratch.resolve("ours.sock");
    java.util.List<String> ours = new java.util.ArrayList<>(java.util.List.of("serve", "-k", socket.toString()));
    ours.addAll(java.util.List.of(serve));
    CompletableFuture<Cli.Result> server = CompletableFuture.supplyAsync(() -> Cli.run(ours.toArray(String[]::new)));
    for (int wait = 0; wait < 600 && !Files.exists(socket); wait++) {
      Thread.sleep(50);
    }
    String actual = Qemu.check("nbdinfo", what, "nbd+unix:///?socket=" + socket);
    Cli.Result result = server.get(60, TimeUnit.SECONDS);
    assertThat(result.exitCode()).as(result.err()).isZero();
    if (context.equals("--list")) {
      assertThat(section(actual, "contexts:")).isEqualTo(section(expected, "contexts:"));
    } else {
      assertThat(actual).isEqualTo(expected);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"nope", "inconsistent"})
  void refusesWhatQemuNbdRefuses(String bitmap) {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("b.qcow2");
    Qemu.createQcow2(image, "1M");
    Qemu.check("qemu-img", "bitmap", "--add", image.toString(), "inconsistent");
    if (bitmap.equals("inconsistent")) {
      // the in-use flag, as a crash leaves it: byte 3 of the entry's flags
      try (java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(image,
          java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
        long directory = directoryOffset(image);
        file.write(java.nio.ByteBuffer.wrap(new byte[] {3}), directory + 15);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    Cli.Result theirs = Qemu.run("qemu-nbd", "-r", "-f", "qcow2", "-B", bitmap, image.toString());
    Cli.Result ours = Cli.run("serve", "-r", "-f", "qcow2", "-B", bitmap, image.toString());
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.err().replace("qcow4j:", "qemu-nbd:")).isEqualTo(theirs.err());
  }

  private static long directoryOffset(Path image) {
    String info = Qemu.check("qemu-img", "info", "--output=json", image.toString());
    assertThat(info).contains("\"inconsistent\"");
    try (java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(image)) {
      java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(4096);
      file.read(header, 0);
      int at = header.getInt(100);
      while (at + 8 <= 4096) {
        int type = header.getInt(at);
        int length = header.getInt(at + 4);
        if (type == 0x23852875) {
          return header.getLong(at + 8 + 16);
        }
        if (type == 0) {
          break;
        }
        at += 8 + ((length + 7) & ~7);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    throw new AssertionError("no bitmaps extension");
  }

  private static String section(String text, String heading) {
    int start = text.indexOf(heading);
    assertThat(start).as(text).isNotNegative();
    int end = text.indexOf("\n\tis_", start);
    return text.substring(start, end < 0 ? text.length() : end);
  }
}
