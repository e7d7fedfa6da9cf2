package io.qcow4j.probe;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.Json;
import io.qcow4j.testing.OtherFormats;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The prober names every file as qemu-img does. */
class FormatProberTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow4j.testing.OtherFormats#all")
  void namesImagesOfEveryFormatAsQemuImgInfoDoes(OtherFormats.Recipe recipe) throws IOException {
    Path image = recipe.create(dir);
    assertThat(FormatProber.probe(image)).isEqualTo(qemuFormat(image)).isEqualTo(recipe.probesAs());
  }

  /** Files made byte by byte: what each probe function accepts and what it just misses. */
  static List<Arguments> craftedFiles() {
    long seed = new Random().nextLong();
    byte[] noise = new byte[4096];
    new Random(seed).nextBytes(noise);
    return List.of(
        Arguments.of("empty", new byte[0], "raw"),
        Arguments.of("random bytes, seed " + seed, noise, "raw"),
        Arguments.of("text", text("hello, world\n"), "raw"),
        Arguments.of("qcow2 v3", new Sector().text(0, "QFI\u00fb").bigEndian(4, 3).bytes, "qcow2"),
        Arguments.of("qcow2 version 2^32-1", new Sector().text(0, "QFI\u00fb").bigEndian(4, -1).bytes, "qcow2"),
        Arguments.of("qcow v1", new Sector().text(0, "QFI\u00fb").bigEndian(4, 1).bytes, "qcow"),
        Arguments.of("qcow magic, version 0", text("QFI\u00fb"), "raw"),
        Arguments.of("qed", text("QED\0"), "qed"),
        Arguments.of("vmdk sparse", text("KDMV"), "vmdk"),
        Arguments.of("vmdk3 (vmfs sparse)", text("COWD"), "vmdk"),
        Arguments.of("vmdk descriptor", text("# Disk DescriptorFile\nversion=1\nCID=1\n"), "vmdk"),
        Arguments.of("vmdk descriptor, blank lines, CRLF", text("  \r\n#c\n \nversion=3\r\n"), "vmdk"),
        Arguments.of("vmdk descriptor after an empty line", text("\nversion=1\n"), "raw"),
        Arguments.of("vmdk descriptor version 4", text("version=4\n"), "raw"),
        Arguments.of("vmdk version line past 512 bytes", text("#" + "x".repeat(520) + "\nversion=1\n"), "raw"),
        Arguments.of("vmdk version without its newline in 512 bytes", text(" \n".repeat(251) + "version=1"), "raw"),
        Arguments.of("vhdx", text("vhdxfile"), "vhdx"),
        Arguments.of("vpc header", text("conectix"), "vpc"),
        Arguments.of("vdi", new Sector().littleEndian(0x40, 0xbeda107f).bytes, "vdi"),
        Arguments.of("luks1", new Sector().text(0, "LUKS\u00ba\u00be\0\1").bytes, "luks"),
        Arguments.of("luks2", new Sector().text(0, "LUKS\u00ba\u00be\0\2").bytes, "raw"),
        Arguments.of("parallels", new Sector().text(0, "WithoutFreeSpace").littleEndian(16, 2).bytes, "parallels"),
        Arguments.of("parallels ext", new Sector().text(0, "WithouFreSpacExt").littleEndian(16, 2).bytes, "parallels"),
        Arguments.of("parallels version 1", new Sector().text(0, "WithoutFreeSpace").littleEndian(16, 1).bytes, "raw"),
        Arguments.of("bochs", bochs("Growing", 0x00020000), "bochs"),
        Arguments.of("bochs v1", bochs("Growing", 0x00010000), "bochs"),
        Arguments.of("bochs undoable", bochs("Undoable", 0x00020000), "raw"),
        Arguments.of("bochs magic not terminated",
            new Sector().text(0, "Bochs Virtual HD ImageX").text(32, "Redolog").text(48, "Growing")
                .littleEndian(64, 0x00020000).bytes, "raw"),
        Arguments.of("cloop", text(CLOOP), "cloop"),
        Arguments.of("cloop, one byte off", text(CLOOP.replace("V2.0", "V2.1")), "raw"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("craftedFiles")
  void namesCraftedFilesAsQemuImgDoes(String description, byte[] content, String expected) throws IOException {
    Path file = dir.resolve("crafted.img");
    Files.write(file, content);
    assertThat(FormatProber.probe(file)).isEqualTo(expected);
    assertQemuAgrees(file, expected);
  }

  @Test
  void dmgIsNamedByItsFileNameAndWinsTheTieWithCloop() throws IOException {
    Path noise = dir.resolve("noise.dmg");
    Files.write(noise, text("not a disk image"));
    Path cloop = dir.resolve("cloop.dmg");
    Files.write(cloop, text(CLOOP));
    Path empty = dir.resolve("empty.dmg");
    Files.write(empty, new byte[0]);

    assertThat(FormatProber.probe(noise)).isEqualTo("dmg");
    assertThat(FormatProber.probe(cloop)).isEqualTo("dmg");
    assertThat(FormatProber.probe(empty)).isEqualTo("raw");
    assertThat(FormatProber.probe(text(CLOOP), null)).isEqualTo("cloop");
    for (Path file : List.of(noise, cloop, empty)) {
      assertQemuAgrees(file, FormatProber.probe(file));
    }
  }

  @Test
  void onlyTheFirst512BytesCount() {
    byte[] afterTheFirstSector = new byte[1024];
    System.arraycopy(text("QFI\u00fb\0\0\0\3"), 0, afterTheFirstSector, 512, 8);
    assertThat(FormatProber.probe(afterTheFirstSector, null)).isEqualTo("raw");
    assertThat(FormatProber.probe(Arrays.copyOfRange(afterTheFirstSector, 512, 1024), null)).isEqualTo("qcow2");
  }

  private static final String CLOOP =
      "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n";

  /**
   * qemu-img's verdict: the format it names when the open succeeds; a failed open means that a
   * format driver other than raw (which opens anything) took the file.
   */
  private static void assertQemuAgrees(Path file, String expected) {
    QemuTools.Result info = QemuTools.in(file.getParent()).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "info",
        "--output=json", file);
    if (info.exitCode() == 0) {
      assertThat(Json.parseObject(info.stdout()).get("format")).as(info.describe()).isEqualTo(expected);
    } else {
      assertThat(expected).as(info.describe()).isNotEqualTo("raw");
    }
  }

  private static String qemuFormat(Path image) {
    return (String) Json.parseObject(QemuTools.in(image.getParent()).img("info", "--output=json", image).stdout())
        .get("format");
  }

  private static byte[] text(String latin1) {
    return latin1.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] bochs(String subtype, int version) {
    return new Sector().text(0, "Bochs Virtual HD Image").text(32, "Redolog").text(48, subtype)
        .littleEndian(64, version).bytes;
  }

  /** A zeroed first sector with fields put in. */
  private static final class Sector {
    final byte[] bytes = new byte[512];

    Sector text(int offset, String latin1) {
      byte[] text = FormatProberTest.text(latin1);
      System.arraycopy(text, 0, bytes, offset, text.length);
      return this;
    }

    Sector bigEndian(int offset, int value) {
      ByteBuffer.wrap(bytes).putInt(offset, value);
      return this;
    }

    Sector littleEndian(int offset, int value) {
      ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
      return this;
    }
  }
}
