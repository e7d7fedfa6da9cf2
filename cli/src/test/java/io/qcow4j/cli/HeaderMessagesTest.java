package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A qcow2 header that cannot be opened is refused with qemu-img's words (the lines QEMU's iotests
 * 036, 054 and 080 compare): each image is made by qemu-img, one field is changed, and info's
 * message is compared with qemu-img's.
 */
class HeaderMessagesTest {
  static Stream<Arguments> brokenHeaders() {
    return Stream.of(
        Arguments.of("unknown incompatible bit", (Consumer<ByteBuffer>) b -> {
          b.putLong(72, b.getLong(72) | 1L << 63);
          removeFeatureTable(b);
        }),
        Arguments.of("unknown bits, one named by a table entry cut short", (Consumer<ByteBuffer>) b -> {
          b.putLong(72, b.getLong(72) | 7L << 61);
          int table = removeFeatureTable(b);
          b.putInt(table, 0x6803f857).putInt(table + 4, 14).put(table + 8, (byte) 0).put(table + 9, (byte) 62)
              .put(table + 10, "Test feature".getBytes(StandardCharsets.US_ASCII)).putLong(table + 24, 0);
        }),
        Arguments.of("header_length past the cluster", (Consumer<ByteBuffer>) b -> b.putInt(100, 0x7fffffff)),
        Arguments.of("header_length below 104", (Consumer<ByteBuffer>) b -> b.putInt(100, 96)),
        Arguments.of("backing file offset past the cluster", (Consumer<ByteBuffer>) b -> b.putLong(8, 0x10100)),
        Arguments.of("header extension too large", (Consumer<ByteBuffer>) b -> b.putInt(116, 0x7fffffff)),
        Arguments.of("refcount table too large", (Consumer<ByteBuffer>) b -> b.putInt(56, 0x20001)),
        Arguments.of("refcount table offset unaligned", (Consumer<ByteBuffer>) b -> b.putLong(48, 0x12345678L)),
        Arguments.of("refcount table offset overflowing", (Consumer<ByteBuffer>) b -> b.putLong(48, -65536L)),
        Arguments.of("no refcount table", (Consumer<ByteBuffer>) b -> b.putInt(56, 0)),
        Arguments.of("L1 table too large", (Consumer<ByteBuffer>) b -> b.putInt(36, 0x7fffffff)),
        Arguments.of("L1 table offset unaligned", (Consumer<ByteBuffer>) b -> b.putLong(40, 0x12345678L)),
        Arguments.of("L1 table too small", (Consumer<ByteBuffer>) b -> b.putInt(36, 0)),
        Arguments.of("image too big", (Consumer<ByteBuffer>) b -> b.putLong(24, 1L << 60)),
        Arguments.of("backing file name too long", (Consumer<ByteBuffer>) b -> b.putLong(8, 0x1000).putInt(16, 1024)),
        Arguments.of("not qcow2", (Consumer<ByteBuffer>) b -> b.putInt(0, 0x12345678)),
        Arguments.of("version 4", (Consumer<ByteBuffer>) b -> b.putInt(4, 4)),
        Arguments.of("cluster size 2^22", (Consumer<ByteBuffer>) b -> b.putInt(20, 22)),
        Arguments.of("refcount width over 64 bits", (Consumer<ByteBuffer>) b -> b.putInt(96, 7)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("brokenHeaders")
  void infoSaysWhatQemuImgSays(String name, Consumer<ByteBuffer> change) throws IOException {
    Path image = Files.createTempFile(TestImages.scratch(), "header", ".qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer header = ByteBuffer.allocate(4096);
      file.read(header, 0);
      change.accept(header);
      file.write(header.flip(), 0);
    }
    Cli.Result ours = Cli.run("info", "-f", "qcow2", image.toString());
    Cli.Result theirs = Qemu.run("qemu-img", "info", "-f", "qcow2", image.toString());
    assertThat(theirs.exitCode()).as("qemu-img refuses it too").isEqualTo(1);
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.err()).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
  }

  /** An image too large for its L1 table is refused at create with qemu-img's words. */
  @org.junit.jupiter.api.Test
  void createTooLarge() throws IOException {
    Path ours = TestImages.scratch().resolve("too-large-ours.qcow2");
    Path theirs = TestImages.scratch().resolve("too-large-theirs.qcow2");
    Cli.Result ourResult = Cli.run("create", "-f", "qcow2", ours.toString(), "1048576T");
    Cli.Result theirResult = Qemu.run("qemu-img", "create", "-f", "qcow2", theirs.toString(), "1048576T");
    assertThat(ourResult.exitCode()).isEqualTo(theirResult.exitCode()).isEqualTo(1);
    assertThat(ourResult.err()).isEqualTo(theirResult.err().replace("qemu-img: ", "qcow4j: ").replace(theirs.toString(),
        ours.toString()));
  }

  /** A file too short for a header is not qcow2, as QEMU reads zeros past its end. */
  @ParameterizedTest
  @MethodSource("shortFiles")
  void shortFileIsNotQcow2(String content) throws IOException {
    Path file = Files.createTempFile(TestImages.scratch(), "short", ".img");
    Files.writeString(file, content);
    Cli.Result ours = Cli.run("info", "-f", "qcow2", file.toString());
    Cli.Result theirs = Qemu.run("qemu-img", "info", "-f", "qcow2", file.toString());
    assertThat(ours.err()).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
  }

  static Stream<String> shortFiles() {
    return Stream.of("abc", "");
  }

  /** Removes qemu-img's feature name table (the first extension after the 112-byte header), returns where it was. */
  private static int removeFeatureTable(ByteBuffer header) {
    int at = header.getInt(100);
    while (header.getInt(at) != 0) {
      int length = header.getInt(at + 4);
      int next = at + 8 + ((length + 7) & ~7);
      if (header.getInt(at) == 0x6803f857) {
        byte[] rest = new byte[4096 - next];
        header.get(next, rest);
        header.put(at, rest);
        return removeFeatureTable(header);
      }
      at = next;
    }
    return at;
  }
}
