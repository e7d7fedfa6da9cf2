package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The files qemu-img create makes over the file protocol map as qemu-img's do: a fixed VHD and
 * the flat extents of a vmdk grow an empty file, whose first block QEMU's file protocol writes
 * (allocate_first_block: 512 bytes under 4 KiB, else 4 KiB), and full preallocation writes zeros
 * (never a hole). Compared with qemu-img map --output=json of each tool's file.
 */
class CreatedFileMapTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "vpc|subformat=fixed|10M|disk.vpc", "vpc|subformat=fixed,force_size=on|10M|disk.vpc",
      "vpc|subformat=fixed|1000|disk.vpc", "vmdk|subformat=monolithicFlat|100M|disk-flat.vmdk",
      "vmdk|subformat=monolithicFlat|1000|disk-flat.vmdk", "vmdk|subformat=twoGbMaxExtentFlat|100M|disk-f001.vmdk",
      "raw|preallocation=full|10M|disk.raw", "raw|preallocation=falloc|10M|disk.raw", "raw|preallocation=off|3000|disk.raw"})
  void mapsAsQemuImgsFile(String format, String options, String size, String mapped) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", format, "-o", options, "@/disk." + format, size).same();
    for (String mapFormat : new String[] {format, "raw"}) {
      Path file = Path.of(mapFormat.equals("raw") ? mapped : "disk." + format);
      String theirs = Qemu.check("qemu-img", "map", "--output=json", "-f", mapFormat,
          runs.theirs.resolve(file).toString());
      String ours = Qemu.check("qemu-img", "map", "--output=json", "-f", mapFormat,
          runs.ours.resolve(file).toString());
      assertThat(ours).as("qemu-img map -f " + mapFormat + " " + file).isEqualTo(theirs);
    }
  }
}
