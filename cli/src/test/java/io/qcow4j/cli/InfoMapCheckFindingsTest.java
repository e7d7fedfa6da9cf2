package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * What InfoMapCheckSoakTest found qcow4j printing differently from qemu-img 7.2, each run side by
 * side with the real tool as the soak found it.
 */
class InfoMapCheckFindingsTest {
  /**
   * Unallocated subclusters of a cluster with host space, past the end of a shorter backing file,
   * read as zeros of the layer itself, and QEMU still reports the cluster's host offset there
   * (QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC keeps BDRV_BLOCK_OFFSET_VALID; info-map-check seeds
   * -3909919710710242933, 1183772829710390799 and five more): map --output=json prints it.
   */
  @Test
  void unallocatedSubclustersPastTheBackingFileKeepTheirOffset() {
    SideBySide both = new SideBySide();
    for (String[] command : new String[][] {
      {"qemu-img", "create", "-q", "-f", "raw", "@/base.raw", "1M"},
      {"qemu-io", "-f", "raw", "-c", "write -P 5 0 1M", "@/base.raw"},
      {"qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", "-b", "@/base.raw", "-F",
          "raw", "@/mid.qcow2", "4M"},
      {"qemu-io", "-f", "qcow2", "-c", "write -P 1 1028k 2k", "-c", "write -P 2 2052k 4k", "-c", "write -P 3 960k 8k",
          "@/mid.qcow2"},
      {"qemu-img", "create", "-q", "-f", "qcow2", "-b", "@/mid.qcow2", "-F", "qcow2", "@/top.qcow2", "8M"},
    }) {
      both.run(command[0], java.util.Arrays.copyOfRange(command, 1, command.length));
    }
    SideBySide.Runs map = both.run("qemu-img", "map", "--output=json", "@/mid.qcow2").same();
    assertThat(map.theirs().out()).contains("\"present\": false, \"zero\": true, \"data\": false, \"offset\": ");
    both.run("qemu-img", "map", "--output=json", "@/top.qcow2").same();
    both.run("qemu-img", "map", "@/top.qcow2").same();
  }
}
