package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VHDX images (-f vhdx / -O vhdx, dynamic and fixed, with the -o options qemu-img takes): create
 * prints what qemu-img prints and lays the file out as qemu-img does (region tables, BAT and
 * metadata the same, but for the random page 83 GUID), and convert allocates the blocks qemu-img
 * allocates, where it allocates them; every image passes qemu-img check and compares identical.
 */
class VhdxWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"subformat=dynamic|64M", "subformat=fixed|64M", "block_size=1000|1000001",
      "block_size=1M,log_size=3M|64M", "block_size=512M|2G", "subformat=fixed,block_state_zero=off|10M",
      "block_state_zero=off|3G", "subformat=bogus|1M", "block_size=3M|1M", "log_size=0|1M", "log_size=5G|1M",
      "block_state_zero=maybe|1M", "subformat=dynamic|65T"})
  void createLaysTheFileOutAsQemuImgDoes(String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vhdx", "-o", options, "@/disk.vhdx", size).same();
    Path theirs = runs.theirs.resolve("disk.vhdx");
    if (Files.exists(theirs) && Files.size(theirs) > 0) {
      Path ours = runs.ours.resolve("disk.vhdx");
      assertSameLayout(ours, theirs);
      assertThat(Qemu.check("qemu-img", "check", ours.toString())).isEqualTo("No errors were found on the image.\n");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=dynamic", "subformat=fixed", "subformat=fixed,block_state_zero=off",
      "block_state_zero=off", "block_size=1M,log_size=3M", "subformat=fixed,block_size=32M"})
  void convertAllocatesTheBlocksQemuImgAllocates(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "70M");
    Qemu.io(source, "qcow2", "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 12M 1M",
        "write -P 0x22 30719k 1k", "write -P 0x23 69M 1");
    Path theirs = dir.resolve("theirs.vhdx");
    Path ours = dir.resolve("ours.vhdx");
    Qemu.check("qemu-img", "convert", "-O", "vhdx", "-o", options, source.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "vhdx", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertSameLayout(ours, theirs);
    assertThat(Qemu.check("qemu-img", "check", ours.toString())).isEqualTo("No errors were found on the image.\n");
    assertThat(Qemu.check("qemu-img", "compare", "-F", "vhdx", source.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
    Cli.Result compared = Cli.run("compare", "-F", "vhdx", source.toString(), ours.toString());
    assertThat(compared.out()).as(compared.err()).isEqualTo("Images are identical.\n");
  }

  /**
   * The same file size, region tables, BAT and metadata (the page 83 GUID aside); headers, the file
   * identifier's creator and the log differ by design (random GUIDs, QEMU's log entries).
   */
  private static void assertSameLayout(Path ours, Path theirs) throws IOException {
    byte[] mine = Files.readAllBytes(ours);
    byte[] expected = Files.readAllBytes(theirs);
    assertThat(mine.length).isEqualTo(expected.length);
    int regions = 192 << 10;
    assertThat(Arrays.mismatch(Arrays.copyOfRange(mine, regions, regions + (128 << 10)),
        Arrays.copyOfRange(expected, regions, regions + (128 << 10)))).as("region tables").isEqualTo(-1);
    ByteBuffer table = ByteBuffer.wrap(expected).order(ByteOrder.LITTLE_ENDIAN);
    int batOffset = (int) table.getLong(regions + 32);
    int batLength = table.getInt(regions + 40);
    int metadataOffset = (int) table.getLong(regions + 64);
    assertThat(Arrays.mismatch(Arrays.copyOfRange(mine, batOffset, batOffset + batLength),
        Arrays.copyOfRange(expected, batOffset, batOffset + batLength))).as("BAT").isEqualTo(-1);
    int items = metadataOffset + (64 << 10);
    Arrays.fill(mine, items + 16, items + 32, (byte) 0);
    Arrays.fill(expected, items + 16, items + 32, (byte) 0);
    assertThat(Arrays.mismatch(Arrays.copyOfRange(mine, metadataOffset, metadataOffset + (1 << 20)),
        Arrays.copyOfRange(expected, metadataOffset, metadataOffset + (1 << 20)))).as("metadata").isEqualTo(-1);
  }
}
