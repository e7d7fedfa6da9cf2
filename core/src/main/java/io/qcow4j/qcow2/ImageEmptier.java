package io.qcow4j.qcow2;

import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Empties a qcow2 image wholesale, as QEMU's make_completely_empty does for qemu-img commit: with
 * the dirty bit set, the L1 table and the clusters after the header are zeroed, the header points
 * at a one-cluster refcount table in cluster 1 (its block in cluster 2) and an empty L1 table in
 * cluster 3, those clusters get their refcounts, the dirty bit is cleared and the file is cut after
 * the L1 table. A failure after the first zeroing leaves refcounts that describe nothing: the image
 * is ejected (QEMU's bs->drv = NULL, nothing more is written), and the dirty bit makes the next
 * read-write open repair it.
 */
final class ImageEmptier {
  private ImageEmptier() {}

  /** Whether {@code image} can be emptied wholesale (v3, no snapshots, bitmaps, LUKS or data file, a small L1 table). */
  static boolean applies(QcowFile image, Header header) {
    long l1Clusters = l1Clusters(header);
    long refcountsPerBlock = RefcountBlock.entries(header.clusterSize(), header.refcountOrder());
    return header.version() >= 3 && header.snapshotCount() == 0
        && header.extension(HeaderExtension.BITMAPS).isEmpty() && 3 + l1Clusters <= refcountsPerBlock
        && header.cryptMethod() != Header.CRYPT_LUKS && !header.hasDataFile();
  }

  private static long l1Clusters(Header header) {
    long entriesPerCluster = header.clusterSize() / 8;
    return (header.l1Size() + entriesPerCluster - 1) / entriesPerCluster;
  }

  /** Empties the image; caller runs it as an exclusive operation (everything flushed, I/O stopped). */
  static void run(QcowFile image) throws IOException {
    Storage storage = image.storage();
    Header header = image.header();
    int clusterSize = header.clusterSize();
    long l1Clusters = l1Clusters(header);
    // the refcounts are about to be broken utterly
    image.changeIncompatibleFeatures(Features.INCOMPAT_DIRTY, 0);
    storage.force(false);
    try {
      storage.debugEvent("l1_update");
      storage.zeroRange(header.l1TableOffset(), l1Clusters * clusterSize);
      // from here on, neither the refcounts in memory nor those in the file describe the image
      storage.debugEvent("empty_image_prepare");
      storage.zeroRange(clusterSize, (2 + l1Clusters) * clusterSize);
      storage.debugEvent("l1_update");
      storage.debugEvent("reftable_update");
      // the header as it is now: with the dirty bit
      Header dirty = image.header();
      image.writeHeader(dirty.withSizeAndL1(dirty.size(), 3L * clusterSize, dirty.l1Size())
          .withRefcountTable(clusterSize, 1));
      storage.force(false);
      storage.debugEvent("refblock_alloc");
      ByteBuffer entry = ByteBuffer.allocate(8).putLong(0, 2L * clusterSize);
      storage.write(entry, clusterSize);
      storage.force(false);
      // cut before the refcounts are built, which take the end of the file as the end of the clusters in use
      storage.truncate((3 + l1Clusters) * clusterSize);
    } catch (IOException | RuntimeException e) {
      image.eject();
      throw e;
    }
    Refcounts refcounts;
    try {
      refcounts = new Refcounts(storage.name(), storage, header.clusterBits(), header.refcountOrder(), clusterSize, 1,
          image.guard(), 1L << 20);
      image.writer().replaceRefcounts(refcounts);
      // the header, the refcount table and block, and the L1 table (QEMU allocates them from cluster 0)
      storage.debugEvent("cluster_alloc");
      for (long cluster = 0; cluster < 3 + l1Clusters; cluster++) {
        refcounts.setRefcount(cluster, 1);
      }
      image.lookup().replaceL1(new long[header.l1Size()]);
      image.lookup().clearCache();
      image.rebuildGuard();
      image.lookup().placeL1(3L * clusterSize);
      refcounts.writeAll();
      storage.force(false);
    } catch (IOException | RuntimeException e) {
      image.eject();
      throw e;
    }
    image.changeIncompatibleFeatures(0, Features.INCOMPAT_DIRTY);
    storage.force(false);
  }
}
