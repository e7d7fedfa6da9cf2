package io.qcow4j.fuzz;

import io.qcow4j.bochs.BochsFile;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow1.Qcow1File;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qed.QedFile;
import io.qcow4j.storage.Storage;
import io.qcow4j.vdi.VdiFile;
import io.qcow4j.vhdx.VhdxFile;
import io.qcow4j.vmdk.VmdkFile;
import io.qcow4j.vpc.VpcFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * What the fuzzer does with one image: opens it read-only with the smallest metadata cache and
 * reads, maps and checks it; opens it read-write and writes (each write read back), zeroes,
 * discards, flushes, snapshots, resizes, checks and repairs it; then reopens what that left; then
 * opens it as each read-only format (vpc, vdi, qed, qcow, vhdx, bochs) and reads and maps it. Every step may fail with an IOException
 * (ours, naming the problem); anything else escapes to the caller as a finding.
 */
final class OpenPathScenario {
  /** The longest read or write: enough to cross several clusters, small enough to stay fast. */
  private static final int MAX_IO_BYTES = 96 * 1024;
  private static final OpenOptions READ_ONLY =
      OpenOptions.readOnlyDefaults().withBackingPolicy(BackingPolicy.IGNORE);
  /** The smallest metadata cache: every lookup goes through slice loads and evictions. */
  private static final OpenOptions READ_ONLY_SMALL_CACHE = READ_ONLY.withCacheBytes(4096);
  private static final OpenOptions READ_WRITE =
      OpenOptions.readWriteDefaults().withBackingPolicy(BackingPolicy.IGNORE);

  private OpenPathScenario() {}

  /** Runs every phase on {@code image}; throws only what is not an IOException. */
  static void run(byte[] image) {
    vmdk(image);
    readOnly(image, READ_ONLY_SMALL_CACHE);
    readOnly(readWrite(image), READ_ONLY);
    for (ReadOnlyOpener opener : READ_ONLY_FORMATS) {
      readOnlyFormat(image, opener);
    }
    repair(image, storage -> QedFile.repair(storage, null, null), repaired -> QedFile.open(repaired, null, null));
    repair(image, storage -> VhdxFile.repair(storage, null, null), repaired -> VhdxFile.open(repaired, null, null));
  }

  /** A repair over a writable storage. */
  @FunctionalInterface
  private interface Repairer {
    void repair(Storage storage) throws IOException;
  }

  /** qemu-img check -r of a QED or VHDX image over a writable copy, then the repaired bytes opened and read. */
  private static void repair(byte[] image, Repairer repairer, ReadOnlyOpener reopen) {
    GuardedMemoryStorage storage = new GuardedMemoryStorage("fuzz.img", image, false);
    try {
      repairer.repair(storage);
    } catch (IOException expected) {
      quietly(storage::close);
      return;
    }
    readOnlyFormat(storage.toByteArray(), reopen);
  }

  /** Opens one read-only format over a storage, without backing files. */
  @FunctionalInterface
  private interface ReadOnlyOpener {
    DiskFile open(Storage storage) throws IOException;
  }

  private static final List<ReadOnlyOpener> READ_ONLY_FORMATS = List.of(
      storage -> VpcFile.open(storage, null, null),
      storage -> VdiFile.open(storage, null),
      storage -> QedFile.open(storage, null, null),
      storage -> Qcow1File.open(storage, null, null),
      storage -> VhdxFile.open(storage, null, null),
      storage -> BochsFile.open(storage, null));

  /** The image opened as one read-only format (each refuses what is not its own): read, mapped, described. */
  private static void readOnlyFormat(byte[] image, ReadOnlyOpener opener) {
    GuardedMemoryStorage storage = new GuardedMemoryStorage("fuzz.img", image, true);
    DiskFile file;
    try {
      file = opener.open(storage);
    } catch (IOException expected) {
      quietly(storage::close);
      return;
    }
    try (file) {
      long size = file.size();
      for (long offset : probeOffsets(size, 4096)) {
        quietly(() -> read(file, offset, ioLength(size, offset, 4096)));
        quietly(() -> file.blockStatus(offset, size - offset));
      }
      quietly(() -> map(file, size));
      quietly(file::info);
    } catch (IOException expected) {
      // Failed as a hostile image may.
    }
  }

  private static void readOnly(byte[] image, OpenOptions options) {
    try (QcowFile file = QcowFile.open(new GuardedMemoryStorage("fuzz.qcow2", image, true), null, options)) {
      long size = file.size();
      for (long offset : probeOffsets(size, file.clusterSize())) {
        quietly(() -> read(file, offset, ioLength(size, offset, file.clusterSize())));
        quietly(() -> file.blockStatus(offset, size - offset));
      }
      quietly(() -> map(file, size));
      quietly(file::info);
      quietly(() -> file.check(CheckResult.Repair.NONE));
    } catch (IOException expected) {
      // Refused, as a hostile image may be.
    }
  }

  /** A VMDK (a sparse or streamOptimized file) read, mapped and described, read-only as qcow4j opens VMDKs. */
  private static void vmdk(byte[] image) {
    try (VmdkFile file = VmdkFile.open(new GuardedMemoryStorage("fuzz.vmdk", image, true), READ_ONLY_SMALL_CACHE)) {
      long size = file.size();
      long grain = Math.max(file.info().vmdk().clusterSize(), 512);
      int unit = (int) Math.min(grain, 1 << 20);
      for (long offset : probeOffsets(size, unit)) {
        quietly(() -> read(file, offset, ioLength(size, offset, unit)));
        quietly(() -> file.blockStatus(offset, size - offset));
      }
      quietly(() -> map(file, size));
    } catch (IOException expected) {
      // Refused, as a hostile image may be.
    }
  }

  /** The image as the read-write phase left it (unchanged when it could not be opened read-write). */
  private static byte[] readWrite(byte[] image) {
    GuardedMemoryStorage storage = new GuardedMemoryStorage("fuzz.qcow2", image, false);
    try (QcowFile file = QcowFile.open(storage, null, READ_WRITE)) {
      long size = file.size();
      int clusterSize = file.clusterSize();
      byte pattern = 0x5a;
      for (long offset : probeOffsets(size, clusterSize)) {
        // Odd offsets and lengths: partial clusters on both ends.
        long at = Math.min(offset + 100, Math.max(0, size - 1));
        int length = ioLength(size, at, clusterSize);
        byte fill = pattern++;
        quietly(() -> writeAndReadBack(file, at, length, fill));
      }
      long middle = alignDown(size / 2, clusterSize);
      quietly(() -> file.writeZeroes(middle, Math.min(2L * clusterSize, size - middle)));
      // inside the disk even when it is smaller than a cluster: a range outside is a caller's mistake
      long discardAt = Math.min(clusterSize, size);
      quietly(() -> file.discard(discardAt, Math.min(3L * clusterSize, size - discardAt)));
      quietly(() -> file.writeZeroesUnmap(alignDown(size / 3, clusterSize), Math.min(clusterSize + 700L, size / 3)));
      quietly(() -> file.allocate(alignDown(size / 4, clusterSize), Math.min(clusterSize, size / 4)));
      quietly(file::flush);
      if (!file.snapshots().isEmpty()) {
        String existing = file.snapshots().getFirst().id();
        quietly(() -> file.applySnapshot(existing));
        quietly(() -> read(file, 0, ioLength(file.size(), 0, clusterSize)));
        quietly(() -> file.deleteSnapshot(existing));
      }
      // a snapshot applied brings back its own disk size
      long sizeNow = file.size();
      quietly(() -> file.createSnapshot("fuzz"));
      quietly(() -> writeAndReadBack(file, 0, ioLength(sizeNow, 0, clusterSize), (byte) 0x7e));
      quietly(() -> file.resize(alignDown(sizeNow + 511, 512) + clusterSize));
      quietly(() -> file.check(CheckResult.Repair.NONE));
      quietly(() -> file.check(CheckResult.Repair.ALL));
      quietly(() -> file.force(true));
    } catch (IOException expected) {
      // Refused or failed as a hostile image may; what was written still gets reopened.
    }
    return storage.toByteArray();
  }

  /** The first, a middle and the last cluster of the disk (fewer when the disk is small). */
  private static long[] probeOffsets(long size, int clusterSize) {
    if (size <= 0) {
      return new long[0];
    }
    long last = alignDown(size - 1, clusterSize);
    return Arrays.stream(new long[] {0, alignDown(size / 2, clusterSize), last}).distinct().toArray();
  }

  private static int ioLength(long size, long offset, int clusterSize) {
    return (int) Math.max(0, Math.min(Math.min(MAX_IO_BYTES, 2L * clusterSize + 1000), size - offset));
  }

  private static long alignDown(long value, int alignment) {
    return value - Math.floorMod(value, alignment);
  }

  /** Walks the allocation map from the start, as qemu-img map does, for at most 64 extents. */
  private static void map(DiskFile file, long size) throws IOException {
    long offset = 0;
    for (int extents = 0; extents < 64 && offset < size; extents++) {
      long length = file.blockStatus(offset, size - offset).length();
      if (length <= 0) {
        throw new AssertionError("block status at " + offset + " returned an extent of " + length + " bytes");
      }
      offset += length;
    }
  }

  private static void read(DiskFile file, long offset, int length) throws IOException {
    file.readFully(ByteBuffer.allocate(length), offset);
  }

  /** Writes {@code length} bytes of {@code fill}; a write that reports success must read back. */
  private static void writeAndReadBack(QcowFile file, long offset, int length, byte fill) throws IOException {
    if (length == 0) {
      return;
    }
    byte[] data = new byte[length];
    Arrays.fill(data, fill);
    file.writeFully(ByteBuffer.wrap(data), offset);
    ByteBuffer back = ByteBuffer.allocate(length);
    file.readFully(back, offset);
    if (!Arrays.equals(back.array(), data)) {
      int mismatch = Arrays.mismatch(back.array(), data);
      throw new AssertionError(String.format("a write of %d bytes of 0x%02x at guest offset %d succeeded, but reads"
          + " back 0x%02x at offset %d", length, fill, offset, back.get(mismatch), offset + mismatch));
    }
  }

  @FunctionalInterface
  private interface Step {
    void run() throws IOException;
  }

  /** Runs one step; an IOException is an answer the engine may give, anything else escapes. */
  private static void quietly(Step step) {
    try {
      step.run();
    } catch (IOException expected) {
      // Refused, as a hostile image may be.
    }
  }
}
