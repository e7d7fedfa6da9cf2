package io.qcow4j.write;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The rule that a failed write never corrupts the image: an I/O error blkdebug injects at each of
 * the engine's metadata events (once, or every request after it) fails some writes, discards and
 * the close; the image then checks with no corruption (leaks at most), the data a flush made
 * durable before reads back intact, and each sector written since reads as the old data or the new.
 */
class InjectedFailureConsistencyTest {
  private static final int CLUSTER = 512;
  private static final int DURABLE = 64 << 10;
  private static final int WRITTEN = 12 << 20;

  @TempDir Path dir;

  @ParameterizedTest(name = "{0} once {1}")
  @CsvSource({
      "l1_update, true", "l1_update, false", "l2_load, true", "l2_update, true", "l2_update, false",
      "l2_alloc_write, true", "l2_alloc_write, false", "write_aio, true", "write_aio, false",
      "refblock_load, true", "refblock_update_part, true", "refblock_update_part, false",
      "refblock_alloc, true", "refblock_alloc, false", "cluster_alloc, true", "cluster_alloc, false",
      "cluster_free, true", "cluster_free, false", "refblock_alloc_hookup, true", "refblock_alloc_write, false",
      "refblock_alloc_write_blocks, true", "refblock_alloc_write_table, true", "refblock_alloc_write_table, false",
      "refblock_alloc_switch_table, true", "refblock_alloc_switch_table, false", "flush_to_disk, true",
      "flush_to_disk, false",
  })
  void aFailedWriteLeavesAConsistentImage(String event, boolean once) throws IOException {
    Path image = dir.resolve("t.qcow2");
    try (DiskFile disk = DiskImages.create(image, ImageFormat.QCOW2, CreateOptions.of(64L << 20).withClusterSize(CLUSTER))) {
      disk.writeFully(ByteBuffer.wrap(filled(DURABLE, 0x11)), 0);
      disk.force(true);
    }
    ImageSpec spec = ImageSpec.parseWithDriver("json:{'driver': 'qcow2', 'file': {'driver': 'blkdebug', 'inject-error': [{"
        + "'event': '" + event + "', 'errno': '5', 'once': " + once + "}], 'image.filename': '" + image + "'}}", null);
    boolean failed = false;
    try (DiskFile disk = DiskImages.open(spec, OpenOptions.readWriteDefaults(), Secrets.none())) {
      // the durable data rewritten, new clusters past it (new L2 tables, refcount blocks and a moved
      // refcount table at this cluster size), a discard that frees some, a flush between
      for (int offset = 0; offset < WRITTEN; offset += 256 << 10) {
        try {
          disk.writeFully(ByteBuffer.wrap(filled(256 << 10, 0x22)), offset);
          if (offset == 1 << 20) {
            disk.discard(0, 4 * CLUSTER);
            disk.force(true);
          }
        } catch (IOException e) {
          failed = true;
        }
      }
    } catch (IOException e) {
      failed = true;
    }
    assertThat(failed).as("the injected error fails something").isTrue();
    CheckResult check = QcowFile.check(image, CheckResult.Repair.NONE);
    assertThat(check.corruptions()).as(String.join("\n", check.messages())).isZero();
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      byte[] back = new byte[WRITTEN];
      disk.readFully(ByteBuffer.wrap(back), 0);
      for (int sector = 0; sector < WRITTEN / 512; sector++) {
        byte[] bytes = Arrays.copyOfRange(back, sector * 512, sector * 512 + 512);
        byte old = sector * 512 < DURABLE ? (byte) 0x11 : 0;
        boolean asBefore = Arrays.equals(bytes, filled(512, old));
        // the discarded clusters may read as zeros
        boolean discarded = sector < 4 && Arrays.equals(bytes, filled(512, 0));
        assertThat(asBefore || discarded || Arrays.equals(bytes, filled(512, 0x22)))
            .as("sector %d holds the old data or the new", sector).isTrue();
      }
    }
    assertThat(Files.size(image)).isPositive();
  }

  private static byte[] filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return bytes;
  }
}
