package io.qcow4j.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.testing.Json;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.assertj.core.api.SoftAssertions;

/**
 * The one place that compares our engine with QEMU on one image: the bytes of the whole disk, the
 * allocation map (which ranges hold data, which read as zero), and the info fields.
 */
final class QemuComparison {
  private static final int CHUNK_BYTES = 4 << 20;

  private QemuComparison() {}

  /** Our bytes of the whole disk equal those of {@code qemu-img convert -O raw}. */
  static void assertSameBytes(Path image, Path scratch) throws IOException {
    Path reference = scratch.resolve(image.getFileName() + ".reference.raw");
    qemuIn(image).img("convert", "-O", "raw", image, reference);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults());
        FileChannel expected = FileChannel.open(reference, StandardOpenOption.READ)) {
      long size = disk.size();
      assertThat(size).as("virtual size of %s against the raw conversion", image).isEqualTo(expected.size());
      // Chunks alternate between heap and direct buffers, which take different paths to the file.
      ByteBuffer[] oursByKind = {ByteBuffer.allocate(CHUNK_BYTES), ByteBuffer.allocateDirect(CHUNK_BYTES)};
      ByteBuffer theirs = ByteBuffer.allocate(CHUNK_BYTES);
      for (long offset = 0; offset < size; offset += CHUNK_BYTES) {
        int length = (int) Math.min(CHUNK_BYTES, size - offset);
        ByteBuffer ours = oursByKind[(int) (offset / CHUNK_BYTES % 2)];
        ours.clear().limit(length);
        theirs.clear().limit(length);
        disk.readFully(ours, offset);
        readFully(expected, theirs, offset);
        int mismatch = ours.flip().mismatch(theirs.flip());
        if (mismatch >= 0) {
          long at = offset + mismatch;
          fail("%s: byte at guest offset %d (0x%x) is 0x%02x, qemu-img reads 0x%02x", image, at, at,
              ours.get(mismatch) & 0xff, theirs.get(mismatch) & 0xff);
        }
      }
    } finally {
      Files.deleteIfExists(reference);
    }
  }

  /** Walking {@link DiskFile#blockStatus} over the disk classifies every byte as qemu-img map does. */
  static void assertSameMap(Path image) throws IOException {
    List<Range> theirs = new ArrayList<>();
    for (Map<String, Object> extent : Json.parseObjectList(qemuIn(image).img("map", "--output=json", image).stdout())) {
      long start = (Long) extent.get("start");
      theirs.add(new Range(start, start + (Long) extent.get("length"),
          (Boolean) extent.get("data"), (Boolean) extent.get("zero")));
    }
    List<Range> ours = new ArrayList<>();
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      long size = disk.size();
      long offset = 0;
      while (offset < size) {
        Extent extent = disk.blockStatus(offset, size - offset);
        if (extent.start() != offset || extent.length() <= 0 || extent.end() > size) {
          fail("%s: blockStatus(%d, %d) returned %s, which does not start there or is empty or passes the end",
              image, offset, size - offset, extent);
        }
        ours.add(new Range(extent.start(), extent.end(), extent.data(), extent.zero()));
        offset = extent.end();
      }
    }
    List<String> differences = differences(ours, theirs);
    if (!differences.isEmpty()) {
      fail("%s: map differs from qemu-img map in %d ranges (ours vs qemu's), first ones:%n  %s",
          image, differences.size(), String.join("\n  ", differences.subList(0, Math.min(10, differences.size()))));
    }
  }

  /** {@link DiskFile#info()} reports what {@code qemu-img info --output=json} reports. */
  static void assertSameInfo(Path image) throws IOException {
    Map<String, Object> theirs = Json.parseObject(qemuIn(image).img("info", "--output=json", image).stdout());
    ImageInfo ours;
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      ours = disk.info();
    }
    SoftAssertions softly = new SoftAssertions();
    softly.assertThat(ours.format().id()).as("format").isEqualTo(theirs.get("format"));
    softly.assertThat(ours.virtualSize()).as("virtual-size").isEqualTo(theirs.get("virtual-size"));
    softly.assertThat(ours.backingFile()).as("backing-filename").isEqualTo(theirs.get("backing-filename"));
    softly.assertThat(ours.backingFormat()).as("backing-filename-format").isEqualTo(theirs.get("backing-filename-format"));
    if ("qcow2".equals(theirs.get("format"))) {
      Map<String, Object> specific = object(object(theirs, "format-specific"), "data");
      ImageInfo.Qcow2Info qcow2 = ours.qcow2();
      softly.assertThat(qcow2).as("qcow2 info").isNotNull();
      if (qcow2 != null) {
        softly.assertThat((long) qcow2.clusterSize()).as("cluster-size").isEqualTo(theirs.get("cluster-size"));
        softly.assertThat(qcow2.compat()).as("compat").isEqualTo(specific.get("compat"));
        softly.assertThat((long) qcow2.refcountBits()).as("refcount-bits").isEqualTo(specific.get("refcount-bits"));
        softly.assertThat(qcow2.lazyRefcounts()).as("lazy-refcounts")
            .isEqualTo(specific.getOrDefault("lazy-refcounts", false));
        softly.assertThat(qcow2.extendedL2()).as("extended-l2").isEqualTo(specific.getOrDefault("extended-l2", false));
        softly.assertThat(qcow2.corrupt()).as("corrupt").isEqualTo(specific.getOrDefault("corrupt", false));
        softly.assertThat(qcow2.compressionType()).as("compression-type").isEqualTo(specific.get("compression-type"));
        softly.assertThat(qcow2.dataFile()).as("data-file").isEqualTo(specific.get("data-file"));
        softly.assertThat(qcow2.dataFileRaw()).as("data-file-raw").isEqualTo(specific.getOrDefault("data-file-raw", false));
        softly.assertThat(qcow2.dirty()).as("dirty-flag").isEqualTo(theirs.getOrDefault("dirty-flag", false));
        softly.assertThat(snapshots(qcow2)).as("snapshots").isEqualTo(snapshots(theirs));
        softly.assertThat(bitmaps(qcow2)).as("bitmaps").isEqualTo(bitmaps(specific));
      }
    }
    softly.assertAll();
  }

  /** A guest range and how it reads: backed by data, reading as zeros, both or neither. */
  record Range(long start, long end, boolean data, boolean zero) {
    String classification() {
      return "data=" + data + " zero=" + zero;
    }
  }

  /**
   * The ranges where {@code ours} and {@code theirs} classify bytes differently, splitting both lists
   * at each other's boundaries (so how either side merges its extents does not matter). Both lists
   * must cover the same span without gaps.
   */
  static List<String> differences(List<Range> ours, List<Range> theirs) {
    checkContiguous("ours", ours);
    checkContiguous("qemu's", theirs);
    List<String> differences = new ArrayList<>();
    long oursEnd = ours.isEmpty() ? 0 : ours.getLast().end();
    long theirsEnd = theirs.isEmpty() ? 0 : theirs.getLast().end();
    if (oursEnd != theirsEnd) {
      differences.add("ours end at " + oursEnd + ", qemu's at " + theirsEnd);
    }
    int i = 0;
    int j = 0;
    long position = 0;
    String pendingDifference = null;
    long pendingStart = 0;
    while (i < ours.size() && j < theirs.size()) {
      Range a = ours.get(i);
      Range b = theirs.get(j);
      long end = Math.min(a.end(), b.end());
      String difference = a.data() == b.data() && a.zero() == b.zero()
          ? null : a.classification() + " vs " + b.classification();
      // Adjacent pieces with the same disagreement are reported as one range.
      if (!Objects.equals(difference, pendingDifference)) {
        if (pendingDifference != null) {
          differences.add(describe(pendingStart, position, pendingDifference));
        }
        pendingDifference = difference;
        pendingStart = position;
      }
      position = end;
      if (a.end() == end) {
        i++;
      }
      if (b.end() == end) {
        j++;
      }
    }
    if (pendingDifference != null) {
      differences.add(describe(pendingStart, position, pendingDifference));
    }
    return differences;
  }

  private static String describe(long start, long end, String difference) {
    return String.format("[%d, %d) = [0x%x, 0x%x): %s", start, end, start, end, difference);
  }

  private static void checkContiguous(String whose, List<Range> ranges) {
    long expectedStart = 0;
    for (Range range : ranges) {
      if (range.start() != expectedStart || range.end() <= range.start()) {
        throw new AssertionError(whose + " ranges are not contiguous from 0 at " + range + ": " + ranges);
      }
      expectedStart = range.end();
    }
  }

  private static List<String> snapshots(ImageInfo.Qcow2Info qcow2) {
    List<String> descriptions = new ArrayList<>();
    for (SnapshotInfo snapshot : qcow2.snapshots()) {
      descriptions.add(snapshot.id() + ":" + snapshot.name() + " vm-state-size=" + snapshot.vmStateSize()
          + " date=" + snapshot.dateSeconds() + "." + snapshot.dateNanoseconds()
          + " vm-clock-nsec=" + snapshot.vmClockNanoseconds());
    }
    return descriptions;
  }

  @SuppressWarnings("unchecked")
  private static List<String> snapshots(Map<String, Object> info) {
    List<String> descriptions = new ArrayList<>();
    for (Object element : (List<Object>) info.getOrDefault("snapshots", List.of())) {
      Map<String, Object> snapshot = (Map<String, Object>) element;
      long vmClock = (Long) snapshot.get("vm-clock-sec") * 1_000_000_000L + (Long) snapshot.get("vm-clock-nsec");
      descriptions.add(snapshot.get("id") + ":" + snapshot.get("name") + " vm-state-size=" + snapshot.get("vm-state-size")
          + " date=" + snapshot.get("date-sec") + "." + snapshot.get("date-nsec") + " vm-clock-nsec=" + vmClock);
    }
    return descriptions;
  }

  private static List<String> bitmaps(ImageInfo.Qcow2Info qcow2) {
    List<String> descriptions = new ArrayList<>();
    for (ImageInfo.BitmapInfo bitmap : qcow2.bitmaps()) {
      descriptions.add(bitmap.name() + " granularity=" + bitmap.granularity() + " flags=" + bitmap.flags());
    }
    return descriptions;
  }

  @SuppressWarnings("unchecked")
  private static List<String> bitmaps(Map<String, Object> specific) {
    List<String> descriptions = new ArrayList<>();
    for (Object element : (List<Object>) specific.getOrDefault("bitmaps", List.of())) {
      Map<String, Object> bitmap = (Map<String, Object>) element;
      descriptions.add(bitmap.get("name") + " granularity=" + bitmap.get("granularity") + " flags=" + bitmap.get("flags"));
    }
    return descriptions;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> object(Map<String, Object> parent, String name) {
    Object value = parent.get(name);
    if (!(value instanceof Map)) {
      throw new AssertionError("qemu-img info has no object '" + name + "': " + parent);
    }
    return (Map<String, Object>) value;
  }

  /**
   * The tools run in the image's directory: QEMU 7.2 opens a relative external data file name
   * against its working directory (backing names it resolves against the image's directory).
   */
  private static QemuTools qemuIn(Path image) {
    return QemuTools.in(image.toAbsolutePath().getParent());
  }

  private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
    while (buffer.hasRemaining()) {
      if (channel.read(buffer, position + buffer.position()) < 0) {
        throw new IOException("reference file ends before " + (position + buffer.position()));
      }
    }
  }
}
