package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * VMDKs of every subformat qemu-img makes, through the commands that read them: info (human and
 * JSON, with its vmdk block) and map print what qemu-img prints; convert, compare and io -r read
 * them; a read-write open is refused naming the format.
 */
class VmdkCommandsTest {
  private static Path dir;
  private static final List<String> IMAGES = new ArrayList<>();

  @BeforeAll
  static void makeImages() throws IOException {
    dir = TestImages.scratch();
    for (String options : List.of("subformat=monolithicSparse", "subformat=monolithicSparse,zeroed_grain=on",
        "subformat=monolithicSparse,compat6=on", "subformat=monolithicFlat", "subformat=twoGbMaxExtentSparse",
        "subformat=twoGbMaxExtentFlat")) {
      String name = options.replace("subformat=", "").replace(",", "-").replace("=", "") + ".vmdk";
      Path image = dir.resolve(name);
      Qemu.check("qemu-img", "create", "-q", "-f", "vmdk", "-o", options, image.toString(), "3M");
      Qemu.io(image, "vmdk", "write -P 0x61 0 100k", "write -z 192k 64k", "write -P 0x62 1M 256k",
          "write -z 1088k 64k");
      IMAGES.add(name);
    }
    Path raw = dir.resolve("source.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "3M");
    Qemu.io(raw, "raw", "write -P 0x71 64k 200k", "write -P 0x72 2M 64k");
    Qemu.check("qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw.toString(),
        dir.resolve("stream.vmdk").toString());
    IMAGES.add("stream.vmdk");
    Qemu.check("qemu-img", "create", "-q", "-f", "vmdk", "-b", "monolithicSparse.vmdk", "-F", "vmdk",
        dir.resolve("child.vmdk").toString());
    Qemu.io(dir.resolve("child.vmdk"), "vmdk", "write -P 0x63 64k 64k");
    IMAGES.add("child.vmdk");
    Qemu.createQcow2(dir.resolve("overlay.qcow2"), null, "-b", "child.vmdk", "-F", "vmdk");
  }

  static List<String> images() {
    return IMAGES;
  }

  @ParameterizedTest
  @MethodSource("images")
  void infoPrintsWhatQemuImgPrints(String name) {
    String image = dir.resolve(name).toString();
    for (String output : List.of("human", "json")) {
      assertSame("qemu-img", "info", "--output=" + output, image);
      assertSame("qemu-img", "info", "--output=" + output, "-f", "vmdk", image);
    }
  }

  @ParameterizedTest
  @MethodSource("images")
  void mapPrintsWhatQemuImgPrints(String name) {
    assertSame("qemu-img", "map", "--output=json", dir.resolve(name).toString());
    if (!name.equals("stream.vmdk")) {
      assertSame("qemu-img", "map", dir.resolve(name).toString());
    }
  }

  @ParameterizedTest
  @MethodSource("images")
  void checkPrintsWhatQemuImgPrints(String name) {
    assertSame("qemu-img", "check", dir.resolve(name).toString());
    assertSame("qemu-img", "check", "--output=json", dir.resolve(name).toString());
  }

  @Test
  void checkFindsAGrainPastTheEndOfTheFileAsQemuImgDoes() throws IOException {
    Path image = dir.resolve("damaged.vmdk");
    Files.copy(dir.resolve("monolithicSparse.vmdk"), image);
    try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(image,
        java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
      java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(512).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      channel.read(header, 0);
      java.nio.ByteBuffer entry = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      channel.read(entry, header.getLong(56) * 512);
      long table = Integer.toUnsignedLong(entry.getInt(0)) * 512;
      channel.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
          .putInt(0, (int) (channel.size() / 512 + 100)), table + 4);
    }
    Cli.Result theirs = Qemu.run("qemu-img", "check", image.toString());
    Cli.Result ours = Cli.run("check", image.toString());
    assertThat(theirs.err()).contains("points after EOF");
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode());
    assertThat(ours.out()).isEqualTo(theirs.out());
    assertThat(ours.err()).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"4, 4, 4", "44, 4, 4096", "44, 4, 0", "20, 8, 4194304",
      "56, 8, -1", "0, 0, 100"})
  void damagedHeadersAreRefusedWithQemuImgsWords(long offset, int width, long value) throws IOException {
    Path image = dir.resolve("hostile-" + offset + "-" + value + ".vmdk");
    Files.copy(dir.resolve("monolithicSparse.vmdk"), image, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(image,
        java.nio.file.StandardOpenOption.WRITE)) {
      if (width == 0) {
        channel.truncate(value);
      } else {
        java.nio.ByteBuffer field = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            .putLong(0, value).limit(width);
        channel.write(field, offset);
      }
    }
    assertSameFailure("info", image.toString());
  }

  @Test
  void badDescriptorsAreRefusedWithQemuImgsWords() throws IOException {
    Path flat = dir.resolve("bad-flat.vmdk");
    Files.write(flat, new byte[1 << 20]);
    Path image = dir.resolve("bad.vmdk");
    String head = "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n";
    for (String text : List.of(head + "RW 2048 FLAT \"bad-flat.vmdk\" 0\n",
        head + "createType=\"monolithicSparse\"\nRW 2048 FLAT \"bad-flat.vmdk\" 0\n",
        head + "createType=\"monolithicFlat\"\nRW 2048 FLAT \"bad-flat.vmdk\"\n",
        head + "createType=\"monolithicFlat\"\nRW 2048 FLAT \"missing-flat.vmdk\" 0\n")) {
      Files.writeString(image, text);
      assertSameFailure("info", image.toString());
    }
    assertSameFailure("info", "-f", "vmdk", flat.toString());
  }

  @Test
  void aMissingParentIsNamedAsQemuImgNamesIt() throws IOException {
    Path orphans = Files.createDirectories(dir.resolve("orphans"));
    Path child = orphans.resolve("child.vmdk");
    Files.copy(dir.resolve("child.vmdk"), child);
    assertSameFailure("convert", "-O", "raw", child.toString(), orphans.resolve("out.raw").toString());
    assertSameFailure("compare", child.toString(), dir.resolve("child.vmdk").toString());
  }

  @Test
  void aChainThroughVmdkLayersDescribesAndMapsAsQemuImgDoes() {
    String overlay = dir.resolve("overlay.qcow2").toString();
    assertSame("qemu-img", "info", "--backing-chain", overlay);
    assertSame("qemu-img", "info", "--backing-chain", "--output=json", overlay);
    assertSame("qemu-img", "map", "--output=json", overlay);
  }

  @ParameterizedTest
  @MethodSource("images")
  void convertAndCompareReadTheGuestBytes(String name) throws IOException {
    Path image = dir.resolve(name);
    Path ours = dir.resolve(name + ".ours.qcow2");
    Path theirs = dir.resolve(name + ".theirs.raw");
    Cli.Result convert = Cli.run("convert", "-O", "qcow2", image.toString(), ours.toString());
    assertThat(convert.exitCode()).as(convert.toString()).isZero();
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), theirs.toString());
    Qemu.check("qemu-img", "compare", "-F", "raw", ours.toString(), theirs.toString());
    Cli.Result compare = Cli.run("compare", image.toString(), theirs.toString());
    assertThat(compare.exitCode()).as(compare.toString()).isZero();
    assertThat(compare.out()).isEqualTo("Images are identical.\n");
    Files.delete(ours);
    Files.delete(theirs);
  }

  @Test
  void ioReadsReadOnlyAndRefusesAReadWriteOpenNamingTheFormat() throws IOException {
    Path image = dir.resolve("monolithicSparse.vmdk");
    byte[] before = Files.readAllBytes(image);
    Cli.Result read = Cli.run("io", "-r", "-c", "read -P 0x62 1M 64k", image.toString());
    assertThat(read.exitCode()).as(read.toString()).isZero();
    assertThat(read.out()).startsWith("read 65536/65536 bytes at offset 1048576\n");
    Cli.Result write = Cli.run("io", "-c", "write -P 0x1 0 4k", image.toString());
    assertThat(write.exitCode()).isNotZero();
    assertThat(write.err()).contains("can't open device " + image + ": image format 'vmdk' is read-only");
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
  }

  /** Both fail alike: the same exit status and the same message after the program name. */
  private static void assertSameFailure(String... args) {
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(List.of(args));
    Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ours = Cli.run(args);
    assertThat(theirs.exitCode()).as(theirs.toString()).isNotZero();
    assertThat(ours.exitCode()).as(ours.toString()).isEqualTo(theirs.exitCode());
    assertThat(ours.err()).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
  }

  private static void assertSame(String tool, String... args) {
    List<String> qemu = new ArrayList<>(List.of(tool));
    qemu.addAll(List.of(args));
    Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ours = Cli.run(args);
    String command = String.join(" ", args);
    assertThat(ours.exitCode()).as("exit status of %s\nqemu: %s\nours: %s", command, theirs, ours)
        .isEqualTo(theirs.exitCode());
    assertThat(ours.out()).as("stdout of %s", command).isEqualTo(theirs.out());
  }
}
