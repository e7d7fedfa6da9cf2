package io.qcow4j.cli;

import org.junit.jupiter.api.Test;

/**
 * The inputs on which ConvertCompareSoakTest found qcow4j differing from qemu-img 7.2, each run
 * side by side with the real tool as the soak found it.
 */
class SoakFindingsTest {
  /**
   * A raw image past the file system's largest file (ext4: 16 TiB) fails with EFBIG, which
   * qemu-img create words as bdrv_img_create does; the hint only where the format has a
   * cluster_size option (numbers seed 3137196607175169312).
   */
  @Test
  void createPastTheLargestFileNamesTheFormat() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "raw", "@/big.raw", "1078192141574K").same();
    runs.run("qemu-img", "create", "-f", "raw", "@/big.raw", "17T").same();
  }
}
