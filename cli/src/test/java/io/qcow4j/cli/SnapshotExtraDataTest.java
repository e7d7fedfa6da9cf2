package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Snapshot table entries without the extra data version 3 needs (a version 2 writer's): an
 * upgrade rewrites them with the disk size, check reports them as corruptions and -r all rewrites
 * the table, as qemu-img does (side by side).
 */
class SnapshotExtraDataTest {

  /** A version 2 image with one snapshot whose extra data is cut to {@code extraBytes}. */
  private static void v2WithShortExtraData(Path image, int extraBytes) throws IOException {
    Qemu.createQcow2(image, "64M", "-o", "compat=0.10");
    Qemu.run("qemu-img", "snapshot", "-c", "sn0", image.toString());
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long table = bytes.u64(64);
      // the id and name follow the extra data: move them up (24 bytes of extra data as written)
      int idAndName = (bytes.u8(table + 12) << 8 | bytes.u8(table + 13)) + (bytes.u8(table + 14) << 8 | bytes.u8(table + 15));
      byte[] tail = new byte[idAndName];
      for (int index = 0; index < idAndName; index++) {
        tail[index] = (byte) bytes.u8(table + 40 + 24 + index);
      }
      bytes.putU32(table + 36, extraBytes);
      bytes.putBytes(table + 40 + extraBytes, tail);
    }
  }

  private static long extraDataSize(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      return bytes.u32(bytes.u64(64) + 36);
    }
  }

  private static long diskSizeField(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      return bytes.u64(bytes.u64(64) + 40 + 8);
    }
  }

  @Test
  void anUpgradeWritesTheExtraDataVersion3Needs() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      v2WithShortExtraData(dir.resolve("image"), 8);
    }
    both.run("qemu-img", "amend", "-o", "compat=1.1", "@/image").same();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      assertThat(extraDataSize(dir.resolve("image"))).as(dir.toString()).isEqualTo(24);
      assertThat(diskSizeField(dir.resolve("image"))).as(dir.toString()).isEqualTo(64L << 20);
    }
    both.run("qemu-img", "check", "@/image").same();
  }

  @Test
  void checkReportsAndRepairsIncompleteEntriesOfAVersion3Image() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      v2WithShortExtraData(image, 0);
      try (ImageBytes bytes = ImageBytes.open(image)) {
        // made version 3 by hand, as a botched upgrade leaves it
        bytes.putU32(4, 3).putU32(100, 0x68).putU32(96, 4);
      }
    }
    both.run("qemu-img", "check", "@/image").same();
    both.run("qemu-img", "check", "-r", "all", "@/image").same();
    assertThat(extraDataSize(both.ours.resolve("image"))).isEqualTo(24);
    both.run("qemu-img", "check", "@/image").same();
  }
}
