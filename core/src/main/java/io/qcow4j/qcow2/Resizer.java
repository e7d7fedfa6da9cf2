package io.qcow4j.qcow2;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Changes the virtual size of an open image: the L1 table grows (and moves) as needed; shrinking
 * needs an empty tail ({@link QcowFile#resize} deallocates it first, as QEMU's shrink discards it).
 */
final class Resizer {
  private Resizer() {}

  static void resize(QcowFile image, long newSize) throws IOException {
    String name = image.storage().name();
    if (newSize < 0 || (newSize & 511) != 0) {
      throw new IllegalArgumentException(name + ": new size " + newSize + " must be a non-negative multiple of 512");
    }
    if (newSize > HeaderCodec.MAX_VIRTUAL_SIZE) {
      throw new ImageLimitException(name + ": new size " + newSize + " exceeds the limit of " + HeaderCodec.MAX_VIRTUAL_SIZE);
    }
    image.writer().exclusive(() -> {
      refuseV2WithSnapshots(image);
      resizeLocked(image, newSize);
      image.writer().flush();
      image.rebuildGuard();
      return null;
    });
  }

  /** Resizes with the image's I/O drained and its metadata lock held. */
  static void resizeLocked(QcowFile image, long newSize) throws IOException {
    String name = image.storage().name();
    if (newSize < 0 || (newSize & 511) != 0) {
      throw new IllegalArgumentException(name + ": new size " + newSize + " must be a non-negative multiple of 512");
    }
    Header header = image.header();
    if (newSize < header.size()) {
      shrink(image, header, newSize);
    } else if (newSize > header.size()) {
      grow(image, header, newSize);
    }
  }

  /**
   * QEMU's qcow2_co_truncate: a version 2 image need not record its snapshots' disk sizes, so one
   * with snapshots keeps its size.
   */
  static void refuseV2WithSnapshots(QcowFile image) throws UnsupportedFeatureException {
    if (image.header().version() < 3 && !image.snapshotTable().isEmpty()) {
      throw new UnsupportedFeatureException(image.storage().name() + ": Can't resize a v2 image which has snapshots");
    }
  }

  /** Shrinks over an empty tail; the snapshots keep their own L1 tables and disk sizes. */
  private static void shrink(QcowFile image, Header header, long newSize) throws IOException {
    String name = image.storage().name();
    long clusterSize = header.clusterSize();
    long firstGone = (newSize + clusterSize - 1) & ~(clusterSize - 1);
    for (long cursor = firstGone; cursor < header.size(); ) {
      Run run = image.lookup().lookup(cursor, header.size() - cursor);
      // Zero clusters without a host cluster hold nothing; anything else is allocated data.
      boolean empty = run.kind() == io.qcow4j.qcow2.format.L2Entry.Kind.UNALLOCATED
          || run.kind() == io.qcow4j.qcow2.format.L2Entry.Kind.ZERO && run.hostOffset() == Run.NO_HOST;
      if (!empty) {
        throw new UnsupportedFeatureException(name + ": cannot shrink to " + newSize + " bytes: data is allocated at guest offset "
            + run.guestOffset() + " (discard it first)");
      }
      cursor = run.guestEnd();
    }
    image.writeHeader(header.withSizeAndL1(newSize, header.l1TableOffset(), header.l1Size()));
    image.storage().force(false);
  }

  private static void grow(QcowFile image, Header header, long newSize) throws IOException {
    ClusterLookup lookup = image.lookup();
    long bytesPerTable = lookup.bytesPerL2Table();
    long neededEntries = (newSize + bytesPerTable - 1) / bytesPerTable;
    long[] l1 = lookup.l1();
    if (neededEntries <= l1.length) {
      image.writeHeader(header.withSizeAndL1(newSize, header.l1TableOffset(), header.l1Size()));
      image.storage().force(false);
      return;
    }
    if (neededEntries * 8 > HeaderCodec.MAX_L1_BYTES) {
      throw new ImageLimitException(image.storage().name() + ": size " + newSize + " needs an L1 table of "
          + neededEntries * 8 + " bytes, over the limit of " + HeaderCodec.MAX_L1_BYTES);
    }
    replaceL1(image, header, newSize, (int) neededEntries);
  }

  /**
   * Grows the L1 table to at least {@code minEntries} for writes past the disk (the VM state
   * area), keeping the size: exactly, or as QEMU's qcow2_grow_l1_table bumps it (by half again
   * until it is enough). Call with the image's I/O drained and its metadata lock held.
   */
  static void growL1(QcowFile image, long minEntries, boolean exact) throws IOException {
    Header header = image.header();
    long current = image.lookup().l1().length;
    if (minEntries <= current) {
      return;
    }
    long entries = minEntries;
    if (!exact && minEntries <= Integer.MAX_VALUE / 8) {
      entries = Math.max(current, 1);
      while (minEntries > entries) {
        entries = (entries * 3 + 1) / 2;
      }
    }
    if (minEntries > Integer.MAX_VALUE / 8 || entries * 8 > HeaderCodec.MAX_L1_BYTES) {
      throw new ImageLimitException(image.storage().name() + ": an L1 table of " + entries * 8
          + " bytes is over the limit of " + HeaderCodec.MAX_L1_BYTES + " (File too large)");
    }
    replaceL1(image, header, header.size(), (int) entries);
  }

  /** Writes a copy of the L1 table with {@code entries} entries elsewhere and points the header at it with {@code newSize}. */
  private static void replaceL1(QcowFile image, Header header, long newSize, int neededEntries) throws IOException {
    ClusterLookup lookup = image.lookup();
    long[] l1 = lookup.l1();
    int clusterSize = header.clusterSize();
    int clusters = (int) ((neededEntries * 8 + clusterSize - 1) / clusterSize);
    Refcounts refcounts = image.writer().refcounts();
    image.storage().debugEvent("l1_grow_alloc_table");
    long newOffset = refcounts.allocate(clusters);
    long[] grown = Arrays.copyOf(l1, (int) neededEntries);
    // Only the entries are written, as QEMU's qcow2_grow_l1_table: a table that ends the file
    // leaves it as long as QEMU's does (and `info`'s disk size the same).
    ByteBuffer bytes = ByteBuffer.allocate(neededEntries * 8);
    bytes.asLongBuffer().put(grown);
    image.storage().debugEvent("l1_grow_write_table");
    image.storage().write(bytes, newOffset);
    // The new table and the refcounts that own it are durable before the header points at it; the
    // flush alone has no barrier when lazy refcounts defer the refcounts and nothing else is dirty.
    image.writer().flush();
    image.storage().force(false);
    image.storage().debugEvent("l1_grow_activate_table");
    image.writeHeader(header.withSizeAndL1(newSize, newOffset, (int) neededEntries));
    image.storage().force(false);
    lookup.replaceL1(grown);
    if (header.l1Size() > 0) {
      refcounts.freeLater(header.l1TableOffset(), (long) header.l1Size() * 8);
    }
  }
}
