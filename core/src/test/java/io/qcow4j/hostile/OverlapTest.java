package io.qcow4j.hostile;

import static io.qcow4j.testing.ImageBytes.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.hostile.ImageLayout.Metadata;
import io.qcow4j.hostile.ImageLayout.Region;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.Json;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.EnumMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Overlap checks (DESIGN.md invariant 8, issue 8): no data or metadata write, and no free or punch,
 * may touch a host range that holds metadata or that lies past the end of the clusters the image
 * owns. Each case takes an image made by qemu-img / qemu-io (v3, 64 KiB or 4 KiB clusters, with a
 * snapshot and a persistent bitmap), patches one pointer so that it points into a metadata structure
 * or past the end, then does one write, write-zeroes or discard through the library at the guest
 * offset that goes through that pointer. QEMU refuses most of the same requests ("Preventing invalid
 * write on metadata (overlaps with ...)") and marks the image corrupt; where it does not (frees by
 * copy-on-write, L1 or refcount-table entries shared by two tables, bitmap tables, offsets past the
 * end), the contract here is stricter.
 *
 * <h2>The contract these tests hold the engine to</h2>
 * <ul>
 *   <li>The image opens read-write (or, allowed too, the read-write open itself is refused as below;
 *       the open must not walk L2 tables to find out). The operation, or the {@code flush()} that
 *       follows it, throws {@link CorruptImageException}; an exception only at {@code close()} is too
 *       late, and {@code close()} after the refusal throws nothing but {@link IOException}s.</li>
 *   <li>Nothing is written, freed or punched in the structure: its bytes in the file are unchanged
 *       (in the header, only the incompatible and autoclear feature words may change; in the bitmap
 *       directory, only the entries' flags). So a pointer must be checked when it is loaded, before
 *       anything is allocated, written or freed through it: for copy-on-write that means before the
 *       new cluster is allocated, since its refcount may live in the very block being pointed at; for
 *       a refcount-table entry, before the block is used to find or count a cluster.</li>
 *   <li>The file grows by at most {@value #GROWTH_CLUSTERS} clusters (an entry near 2^55 must not
 *       make a huge sparse file).</li>
 *   <li>The corrupt bit (incompatible feature bit 1) is set, so a read-write reopen is refused.</li>
 *   <li>{@code qemu-img check} still reports the image as corrupt (exit status 2), with no more
 *       corruptions than before the operation: we refused, we did not damage it further. (So the
 *       bitmaps autoclear bit must still be set after a refused write: today a read-write open clears
 *       it at once, which turns the bitmap directory and tables into leaked clusters and the pointer
 *       into them into a valid one in qemu-img's eyes. Clear it at the first write that passes the
 *       checks, or keep the bitmaps.)</li>
 *   <li>A read-only open still works and reads the undamaged data; a read through the damaged
 *       L1 or L2 entry (or compressed descriptor) fails with the same named {@link CorruptImageException},
 *       never another exception and never the bytes of the structure.</li>
 *   <li>"Past the end" means at or beyond the file size rounded up to a cluster: a file that ends
 *       inside its last cluster (qemu-img's often do, here inside the bitmap directory's) owns that
 *       cluster, so a pointer into it is named after the structure there, not "past the end".</li>
 * </ul>
 *
 * <h2>Message wording (implement to these words)</h2>
 * The message of the {@link CorruptImageException} contains
 * <ol>
 *   <li>the image's file name;</li>
 *   <li>{@code "overlaps with <structure>"}, where {@code <structure>} is exactly one of
 *       {@code header}, {@code active L1 table}, {@code active L2 table}, {@code refcount table},
 *       {@code refcount block}, {@code snapshot table}, {@code inactive L1 table},
 *       {@code bitmap directory}, {@code bitmap table}: the structure the bad pointer points into
 *       (an L2 table or refcount block that two entries share overlaps with "active L2 table" or
 *       "refcount block"); or {@code "past the end of the image"};</li>
 *   <li>the host offset the bad pointer points at, as {@code String.format("0x%x", offset)}: the
 *       cluster offset of an L1, L2 or refcount-table entry, the byte offset of a compressed
 *       descriptor; for the enlarged {@code l1_size} case, the offset of the L1 table or of the
 *       refcount table.</li>
 * </ol>
 * For example: {@code "overlap.qcow2: L2 entry 3 of the L2 table at 0x90000 points at host offset
 * 0x30000, which overlaps with active L1 table"}, or {@code "overlap.qcow2: L2 entry 3 of the L2 table
 * at 0x90000 points at host offset 0x80000000000000, past the end of the image (0x120000)"}.
 */
class OverlapTest {
  /** How much the file may grow during a refused operation. */
  static final int GROWTH_CLUSTERS = 8;
  /** The unallocated guest cluster whose L2 entry the L2 and compressed cases patch. */
  private static final long GUEST_CLUSTER = 3;
  /** An aligned host offset far past the end of any test image; 2^55 fits the L2 entry's offset bits. */
  private static final long FAR = 1L << 55;
  /** The same for compressed descriptors, whose offset field has 54 bits with 64 KiB clusters. */
  private static final long FAR_COMPRESSED = 1L << 53;
  /** Where a compressed descriptor starts inside the structure it points into: not cluster aligned. */
  private static final long COMPRESSED_DELTA = 0x200;
  private static final String PAST_END = "past the end of the image";
  private static final Duration TIME_LIMIT = Duration.ofSeconds(20);
  private static final String IMAGE_NAME = "overlap.qcow2";

  @TempDir static Path bases;
  @TempDir Path caseDirectory;

  /** Per shape: snapshot, bitmap, data; the base of every case but the l1_size one. */
  private static final Map<Shape, Path> FULL_BASES = new EnumMap<>(Shape.class);
  /** Per shape: data only; the L1 table moved to the end of the file, the refcount table right after it. */
  private static final Map<Shape, Path> RELOCATED_BASES = new EnumMap<>(Shape.class);

  /** An image shape: the cluster size. */
  enum Shape {
    K64(65536), K4(4096);

    final int clusterSize;

    Shape(int clusterSize) {
      this.clusterSize = clusterSize;
    }

    @Override
    public String toString() {
      return (clusterSize >> 10) + "k";
    }
  }

  /** The pointer a case patches. */
  enum Pointer {
    /** The L2 entry of guest cluster 3, a standard cluster with COPIED set: a write goes in place. */
    L2_COPIED("l2-entry"),
    /** The same without COPIED: a write copies the cluster, then frees the old one. */
    L2_NOT_COPIED("l2-entry-not-copied"),
    /** L1 entry 1 (COPIED): its "L2 table" is the structure; a write stores an L2 entry into it. */
    L1("l1-entry"),
    /**
     * Refcount-table entry 0: its "refcount block" is the structure; an allocating write updates a
     * refcount in it. For the refcount block itself, entry 1 is made to point at block 0.
     */
    REFCOUNT_TABLE("refcount-table-entry"),
    /** The L2 entry of guest cluster 3 becomes a compressed descriptor: a rewrite or discard frees it. */
    COMPRESSED("compressed-descriptor"),
    /** l1_size (and the virtual size) enlarged so that the L1 table runs into the refcount table after it. */
    L1_SIZE("l1-size");

    final String words;

    Pointer(String words) {
      this.words = words;
    }
  }

  /** What a patched pointer points into: a metadata structure, or a cluster the image does not own. */
  enum Target {
    HEADER(Metadata.HEADER),
    ACTIVE_L1(Metadata.ACTIVE_L1),
    ACTIVE_L2(Metadata.ACTIVE_L2),
    REFCOUNT_TABLE(Metadata.REFCOUNT_TABLE),
    REFCOUNT_BLOCK(Metadata.REFCOUNT_BLOCK),
    SNAPSHOT_TABLE(Metadata.SNAPSHOT_TABLE),
    INACTIVE_L1(Metadata.INACTIVE_L1),
    BITMAP_DIRECTORY(Metadata.BITMAP_DIRECTORY),
    BITMAP_TABLE(Metadata.BITMAP_TABLE),
    /**
     * The first cluster past the end of the file rounded up to a cluster, where the next allocation
     * would go. (The file may end inside its last cluster, as qemu-img's files often do: that cluster
     * is owned.)
     */
    NEXT_CLUSTER_PAST_END(null),
    /** 2^55 (2^53 for a compressed descriptor): writing there would make a huge sparse file. */
    FAR_PAST_END(null);

    /** The structure, or null for a cluster past the end. */
    final Metadata metadata;

    Target(Metadata metadata) {
      this.metadata = metadata;
    }

    String expectedWords() {
      return metadata == null ? PAST_END : "overlaps with " + metadata.words;
    }

    String label() {
      return metadata == null ? name().toLowerCase(java.util.Locale.ROOT).replace('_', '-') : metadata.words.replace(' ', '-');
    }
  }

  /** What the case does through the library. */
  enum Operation {
    WRITE_PARTIAL("write-512"),
    WRITE_CLUSTER("write-cluster"),
    ZEROES_PARTIAL("zeroes-512"),
    ZEROES_CLUSTER("zeroes-cluster"),
    DISCARD_CLUSTER("discard-cluster");

    final String words;

    Operation(String words) {
      this.words = words;
    }

    /** The guest range this operation touches in the cluster at {@code clusterOffset}. */
    long offset(long clusterOffset) {
      return partial() ? clusterOffset + 512 : clusterOffset;
    }

    int length(int clusterSize) {
      return partial() ? 512 : clusterSize;
    }

    boolean partial() {
      return this == WRITE_PARTIAL || this == ZEROES_PARTIAL;
    }

    void apply(QcowFile disk, long clusterOffset, int clusterSize) throws IOException {
      long offset = offset(clusterOffset);
      int length = length(clusterSize);
      switch (this) {
        case WRITE_PARTIAL, WRITE_CLUSTER -> {
          byte[] data = new byte[length];
          Arrays.fill(data, (byte) 0x5a);
          disk.writeFully(ByteBuffer.wrap(data), offset);
        }
        case ZEROES_PARTIAL, ZEROES_CLUSTER -> disk.writeZeroes(offset, length);
        case DISCARD_CLUSTER -> disk.discard(offset, length);
      }
    }
  }

  /** One case: a shape, a pointer, what it points into, an operation. */
  record OverlapCase(Shape shape, Pointer pointer, Target target, Operation operation) {
    String expectedWords() {
      return target.expectedWords();
    }

    /**
     * The words a refusal may use. A refcount-table entry pointing at the active L2 table makes one
     * cluster both an L2 table (found through L1) and a refcount block (found through the refcount
     * table): nothing in the image tells which pointer is the damaged one, so naming either side of
     * the overlap is right. (The converse, an L1 entry into a refcount block, reaches the engine
     * through the L1 entry first and must name the refcount block.)
     */
    List<String> acceptedWords() {
      if (pointer == Pointer.REFCOUNT_TABLE && target == Target.ACTIVE_L2) {
        return List.of(target.expectedWords(), Target.REFCOUNT_BLOCK.expectedWords());
      }
      return List.of(target.expectedWords());
    }

    /** Whether reads of the guest cluster go through the patched pointer. */
    boolean readsThroughPointer() {
      // Reads do not use refcounts: an L1 entry into a refcount block looks like an L2 table to a
      // read, since only the refcount table (which may be the damaged side) says otherwise.
      return pointer != Pointer.REFCOUNT_TABLE && pointer != Pointer.L1_SIZE
          && !(pointer == Pointer.L1 && target == Target.REFCOUNT_BLOCK);
    }

    @Override
    public String toString() {
      return shape + "/" + pointer.words + "/" + target.label() + "/" + operation.words;
    }
  }

  static Stream<OverlapCase> cases() {
    List<OverlapCase> cases = new ArrayList<>();
    // Aligned pointers cannot point at the header: host offset 0 means "unallocated".
    List<Target> pointable = Arrays.stream(Target.values()).filter(t -> t != Target.HEADER).toList();
    for (Shape shape : Shape.values()) {
      for (Target target : pointable) {
        for (Operation operation : List.of(Operation.WRITE_PARTIAL, Operation.ZEROES_PARTIAL, Operation.DISCARD_CLUSTER)) {
          cases.add(new OverlapCase(shape, Pointer.L2_COPIED, target, operation));
        }
        cases.add(new OverlapCase(shape, Pointer.L2_NOT_COPIED, target, Operation.WRITE_PARTIAL));
        cases.add(new OverlapCase(shape, Pointer.L1, target, Operation.WRITE_PARTIAL));
        cases.add(new OverlapCase(shape, Pointer.REFCOUNT_TABLE, target, Operation.WRITE_PARTIAL));
      }
      for (Target target : Target.values()) {
        for (Operation operation : List.of(Operation.WRITE_CLUSTER, Operation.ZEROES_CLUSTER, Operation.DISCARD_CLUSTER)) {
          cases.add(new OverlapCase(shape, Pointer.COMPRESSED, target, operation));
        }
      }
      cases.add(new OverlapCase(shape, Pointer.L1_SIZE, Target.REFCOUNT_TABLE, Operation.WRITE_PARTIAL));
    }
    return cases.stream();
  }

  // ------------------------------------------------------------------------------------ the bases

  @BeforeAll
  static void makeBases() throws IOException {
    for (Shape shape : Shape.values()) {
      int c = shape.clusterSize;
      QemuTools tools = QemuTools.in(bases);
      String full = "full-" + shape + ".qcow2";
      tools.img("create", "-q", "-f", "qcow2", "-o", "compat=1.1,cluster_size=" + c, full, "1G");
      tools.io("-f", "qcow2", "-c", "write -P 0x11 0 " + 2 * c, full);
      tools.img("snapshot", "-c", "snap1", full);
      // Copy-on-write of the shared L2 table and clusters: the active ones now have COPIED set.
      tools.io("-f", "qcow2", "-c", "write -P 0x22 0 " + 2 * c, full);
      tools.img("bitmap", "--add", full, "bm1");
      // A write under the enabled bitmap, so that the bitmap table points at a bitmap cluster.
      tools.io("-f", "qcow2", "-c", "write -P 0x33 " + 4 * c + " " + c, full);
      Path fullBase = bases.resolve(full);
      FULL_BASES.put(shape, fullBase);
      requireClean(fullBase);
      ImageLayout layout = ImageLayout.read(fullBase);
      for (Metadata structure : Metadata.values()) {
        layout.region(structure);
      }
      try (ImageBytes bytes = ImageBytes.open(fullBase)) {
        assertThat(bytes.u64(layout.l2EntryOffset(GUEST_CLUSTER))).as("guest cluster 3 of the base is unallocated").isZero();
      }
      assertThat(layout.l1()[1]).as("L1 entry 1 of the base").isZero();
      assertThat(layout.refcountTable()[1]).as("refcount-table entry 1 of the base").isZero();

      String relocated = "relocated-" + shape + ".qcow2";
      tools.img("create", "-q", "-f", "qcow2", "-o", "compat=1.1,cluster_size=" + c, relocated, "1G");
      tools.io("-f", "qcow2", "-c", "write -P 0x22 0 " + 2 * c, "-c", "write -P 0x33 " + 4 * c + " " + c, relocated);
      Path relocatedBase = bases.resolve(relocated);
      RELOCATED_BASES.put(shape, relocatedBase);
      relocateL1AndRefcountTable(relocatedBase);
      requireClean(relocatedBase);
    }
  }

  /**
   * Moves the L1 table to the first cluster past the end of the file and the refcount table to the
   * cluster after it, fixing the refcounts, so that the image stays clean and an enlarged l1_size
   * runs straight into the refcount table.
   */
  private static void relocateL1AndRefcountTable(Path image) throws IOException {
    ImageLayout layout = ImageLayout.read(image);
    int c = layout.clusterSize();
    assertThat(layout.refcountOrder()).isEqualTo(4);
    assertThat(layout.refcountTableClusters()).isEqualTo(1);
    assertThat(8L * layout.l1Size()).isLessThanOrEqualTo(c);
    long newL1 = roundUp(layout.fileSize(), c);
    long newRefcountTable = newL1 + c;
    try (ImageBytes bytes = ImageBytes.open(image)) {
      bytes.putBytes(newL1, readBytes(image, layout.l1Offset(), c));
      bytes.putBytes(newRefcountTable, readBytes(image, layout.refcountTableOffset(), c));
      long block = layout.refcountTable()[0] & ImageLayout.TABLE_OFFSET_MASK;
      putRefcount(bytes, block, newL1 / c, 1);
      putRefcount(bytes, block, newRefcountTable / c, 1);
      putRefcount(bytes, block, layout.l1Offset() / c, 0);
      putRefcount(bytes, block, layout.refcountTableOffset() / c, 0);
      bytes.putU64(L1_TABLE_OFFSET, newL1);
      bytes.putU64(REFCOUNT_TABLE_OFFSET, newRefcountTable);
    }
  }

  private static void putRefcount(ImageBytes bytes, long block, long cluster, int refcount) throws IOException {
    assertThat(cluster).as("cluster counted by refcount block 0").isLessThan(bytes.clusterSize() / 2);
    bytes.putBytes(block + 2 * cluster, new byte[] {(byte) (refcount >>> 8), (byte) refcount});
  }

  private static void requireClean(Path image) {
    QemuTools.Result check = QemuTools.in(image.getParent()).img("check", "-f", "qcow2", image.getFileName());
    assertThat(check.stdout()).as("qemu-img check of the base %s", image).contains("No errors were found");
  }

  // ------------------------------------------------------------------------------------ the cases

  /**
   * The image of one case; the host offsets its message may name; the guest cluster whose access
   * goes through the pointer; the region of the structure pointed into (null past the end).
   */
  record Built(Path image, List<String> acceptedOffsets, long guestCluster, Region target) {}

  Built build(OverlapCase c) throws IOException {
    Shape shape = c.shape();
    int cluster = shape.clusterSize;
    Path image = caseDirectory.resolve(IMAGE_NAME);
    Files.copy((c.pointer() == Pointer.L1_SIZE ? RELOCATED_BASES : FULL_BASES).get(shape), image);
    ImageLayout layout = ImageLayout.read(image);
    Region target = c.target().metadata == null ? null : layout.region(c.target().metadata);
    long pointed = switch (c.target()) {
      case NEXT_CLUSTER_PAST_END -> roundUp(layout.fileSize(), cluster);
      case FAR_PAST_END -> c.pointer() == Pointer.COMPRESSED ? FAR_COMPRESSED : FAR;
      default -> target.offset();
    } + (c.pointer() == Pointer.COMPRESSED ? COMPRESSED_DELTA : 0);
    long guestCluster = GUEST_CLUSTER;
    List<String> offsets = List.of(hex(pointed));
    try (ImageBytes bytes = ImageBytes.open(image)) {
      switch (c.pointer()) {
        case L2_COPIED -> bytes.putU64(layout.l2EntryOffset(GUEST_CLUSTER), OFLAG_COPIED | pointed);
        case L2_NOT_COPIED -> bytes.putU64(layout.l2EntryOffset(GUEST_CLUSTER), pointed);
        case COMPRESSED -> {
          int offsetBits = 62 - (layout.clusterBits() - 8);
          assertThat(pointed).isLessThan(1L << offsetBits);
          // One sector beyond the first: the compressed bytes stay inside the structure's cluster.
          bytes.putU64(layout.l2EntryOffset(GUEST_CLUSTER), OFLAG_COMPRESSED | 1L << offsetBits | pointed);
        }
        case L1 -> {
          bytes.putU64(layout.l1Offset() + 8, OFLAG_COPIED | pointed);
          // A zero word of the structure: an unallocated "L2 entry", so the write allocates a data
          // cluster and then stores its entry into the structure.
          long index = 0;
          if (target != null) {
            ByteBuffer words = ByteBuffer.wrap(readBytes(image, target.offset(), cluster));
            while (words.getLong(8 * (int) index) != 0) {
              index++;
            }
          }
          assertThat(index).isLessThan(cluster / 8);
          guestCluster = cluster / 8 + index;
        }
        case REFCOUNT_TABLE -> {
          if (c.target() == Target.REFCOUNT_BLOCK) {
            bytes.putU64(layout.refcountTableOffset() + 8, pointed);
          } else {
            bytes.putU64(layout.refcountTableOffset(), pointed);
          }
        }
        case L1_SIZE -> {
          int entries = cluster / 8 + 2;
          bytes.putU32(L1_SIZE, entries);
          bytes.putU64(SIZE, entries * layout.l2Coverage());
          // The last L1 entry is refcount-table entry 1 (zero): a write there allocates an L2 table
          // and stores its offset into the refcount table.
          guestCluster = (long) (entries - 1) * (cluster / 8);
          offsets = List.of(hex(layout.l1Offset()), hex(layout.refcountTableOffset()));
        }
      }
    }
    if (c.pointer() == Pointer.L1_SIZE) {
      target = ImageLayout.read(image).region(Metadata.REFCOUNT_TABLE);
    }
    return new Built(image, offsets, guestCluster, target);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void refusedNamedMarkedCorruptAndNothingOverwritten(OverlapCase c) throws IOException {
    Built built = build(c);
    Before before = Before.record(c, built);
    int cluster = c.shape().clusterSize;
    long guestOffset = built.guestCluster() * cluster;

    Refusal refusal = assertTimeoutPreemptively(TIME_LIMIT, () -> operate(built.image(), c.operation(), guestOffset, cluster),
        () -> c + ": not finished within " + TIME_LIMIT);
    System.out.println(c + ": " + refusal);

    assertRefusedCleanly(c, built, before, refusal, true);
  }

  /**
   * The test of the tests: an ideal engine, which only sets the corrupt bit and throws the named
   * error, passes every check but the read through the damaged pointer (which needs the engine). So
   * the checks above ask nothing impossible of the image, nor of qemu-img check. One case of each
   * pointer and of each structure.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("harnessCases")
  void anIdealRefusalPassesTheChecks(OverlapCase c) throws IOException {
    Built built = build(c);
    Before before = Before.record(c, built);
    try (ImageBytes bytes = ImageBytes.open(built.image())) {
      bytes.putU64(INCOMPATIBLE_FEATURES, bytes.u64(INCOMPATIBLE_FEATURES) | ImageLayout.INCOMPAT_CORRUPT);
    }
    Refusal ideal = new Refusal(c.operation().words, new CorruptImageException(String.format(
        "%s: the pointer under test points at host offset %s, which %s", built.image(),
        built.acceptedOffsets().getFirst(), c.expectedWords())));
    assertRefusedCleanly(c, built, before, ideal, false);
  }

  static Stream<OverlapCase> harnessCases() {
    List<OverlapCase> all = cases().toList();
    List<OverlapCase> picked = new ArrayList<>();
    for (Pointer pointer : Pointer.values()) {
      all.stream().filter(c -> c.pointer() == pointer && !picked.contains(c)).findFirst().ifPresent(picked::add);
    }
    for (Target target : Target.values()) {
      all.stream().filter(c -> c.target() == target && c.shape() == Shape.K4 && !picked.contains(c)).findFirst()
          .ifPresent(picked::add);
    }
    return picked.stream();
  }

  /** What the checks after the operation compare with. */
  record Before(List<long[]> masked, byte[] header, byte[] target, long fileSize, QemuCheck check) {
    static Before record(OverlapCase c, Built built) throws IOException {
      Path image = built.image();
      int cluster = c.shape().clusterSize;
      ImageLayout layout = ImageLayout.read(image);
      List<long[]> masked = maskedFields(layout, image);
      QemuCheck check = qemuCheck(image);
      assertThat(check.exitCode()).as("%s: the case is built right: qemu-img check reports the patched image "
          + "as corrupt before the operation (%s)", c, check).isEqualTo(2);
      return new Before(masked, protectedBytes(image, layout.region(Metadata.HEADER), cluster, masked),
          built.target() == null ? null : protectedBytes(image, built.target(), cluster, masked), Files.size(image), check);
    }
  }

  private void assertRefusedCleanly(OverlapCase c, Built built, Before before, Refusal refusal, boolean readThrough)
      throws IOException {
    Path image = built.image();
    int cluster = c.shape().clusterSize;
    assertThat(refusal.thrown()).as("%s: what open, %s and flush threw (%s)", c, c.operation().words, refusal)
        .isInstanceOf(CorruptImageException.class);
    assertNames(c, built, refusal.thrown(), "the refused operation");
    for (Throwable suppressed : refusal.thrown().getSuppressed()) {
      assertThat(suppressed).as("%s: what close threw after the refusal", c).isInstanceOf(IOException.class);
    }

    ImageLayout after = ImageLayout.read(image);
    assertThat(after.corrupt()).as("%s: the corrupt bit", c).isTrue();
    assertThat(protectedBytes(image, after.region(Metadata.HEADER), cluster, before.masked()))
        .as("%s: the header (but its feature words)", c).isEqualTo(before.header());
    if (before.target() != null) {
      assertThat(protectedBytes(image, built.target(), cluster, before.masked()))
          .as("%s: the bytes of the %s's clusters", c, c.target().metadata.words).isEqualTo(before.target());
    }
    assertThat(Files.size(image)).as("%s: the file size (was %d)", c, before.fileSize())
        .isLessThanOrEqualTo(roundUp(before.fileSize(), cluster) + (long) GROWTH_CLUSTERS * cluster);

    Throwable reopen = catching(() -> QcowFile.open(image, OpenOptions.readWriteDefaults()).close());
    assertThat(reopen).as("%s: a read-write reopen of the image marked corrupt", c).isInstanceOf(CorruptImageException.class);

    QemuCheck check = qemuCheck(image);
    assertThat(check.exitCode() == 2 || check.corruptions() > 0)
        .as("%s: qemu-img check reports corruption: %s", c, check).isTrue();
    assertThat(check.corruptions()).as("%s: corruptions qemu-img check counts after (before: %s; after: %s)",
        c, before.check(), check).isLessThanOrEqualTo(before.check().corruptions());

    readOnlyStillWorks(c, built, readThrough);
  }

  /** A read-only open reads the undamaged data; a read through the damaged pointer fails with the named error. */
  private static void readOnlyStillWorks(OverlapCase c, Built built, boolean readThrough) throws IOException {
    int cluster = c.shape().clusterSize;
    try (QcowFile disk = QcowFile.open(built.image(), OpenOptions.readOnlyDefaults())) {
      ByteBuffer data = ByteBuffer.allocate(2 * cluster);
      disk.readFully(data, 0);
      byte[] expected = new byte[2 * cluster];
      Arrays.fill(expected, (byte) 0x22);
      assertThat(data.array()).as("%s: guest clusters 0 and 1 read read-only", c).isEqualTo(expected);
      if (readThrough && c.readsThroughPointer()) {
        long offset = built.guestCluster() * cluster + 512;
        Throwable thrown = catching(() -> disk.readFully(ByteBuffer.allocate(512), offset));
        assertThat(thrown).as("%s: a read through the damaged pointer", c).isInstanceOf(CorruptImageException.class);
        assertNames(c, built, thrown, "the read through the damaged pointer");
      }
    }
  }

  private static void assertNames(OverlapCase c, Built built, Throwable thrown, String what) {
    String message = thrown.getMessage();
    assertThat(message).as("%s: the message of %s names the file", c, what).contains(IMAGE_NAME);
    assertThat(message).as("%s: the message of %s names the structure", c, what)
        .containsAnyOf(c.acceptedWords().toArray(String[]::new));
    assertThat(message).as("%s: the message of %s names the host offset (one of %s)", c, what, built.acceptedOffsets())
        .containsAnyOf(built.acceptedOffsets().toArray(String[]::new));
  }

  // ------------------------------------------------------------------------------------ operating

  /** What the read-write session threw first (null: nothing), and at which step. */
  record Refusal(String step, Throwable thrown) {
    @Override
    public String toString() {
      return thrown == null ? "nothing thrown" : step + " threw " + thrown;
    }
  }

  /** Opens read-write, does the operation, flushes, closes; an exception only at close counts as none. */
  private static Refusal operate(Path image, Operation operation, long guestOffset, int cluster) {
    String step = "open read-write";
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      step = operation.words + " at guest offset " + hex(operation.offset(guestOffset));
      operation.apply(disk, guestOffset, cluster);
      step = "flush";
      disk.flush();
      step = "close";
    } catch (Throwable t) {
      if (!step.equals("close")) {
        return new Refusal(step, t);
      }
      return new Refusal("close (too late: the operation and the flush succeeded)", new AssertionError(
          "only close() threw", t));
    }
    return new Refusal(step, null);
  }

  @FunctionalInterface
  interface Action {
    void run() throws Exception;
  }

  private static Throwable catching(Action action) {
    try {
      action.run();
      return null;
    } catch (Throwable t) {
      return t;
    }
  }

  // ------------------------------------------------------------------------------------ qemu-img check

  record QemuCheck(int exitCode, long corruptions, long leaks, String output) {
    @Override
    public String toString() {
      return "exit " + exitCode + ", " + corruptions + " corruptions, " + leaks + " leaks";
    }
  }

  private static QemuCheck qemuCheck(Path image) {
    QemuTools.Result result = QemuTools.in(image.getParent())
        .run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "--output=json", "-f", "qcow2", image.getFileName());
    if (result.exitCode() != 0 && result.exitCode() != 2 && result.exitCode() != 3) {
      fail("qemu-img check could not check the image: " + result.describe());
    }
    Map<String, Object> json = Json.parseObject(result.stdout());
    return new QemuCheck(result.exitCode(), number(json, "corruptions"), number(json, "leaks"), result.stdout());
  }

  private static long number(Map<String, Object> json, String key) {
    Object value = json.get(key);
    return value == null ? 0 : ((Number) value).longValue();
  }

  // ------------------------------------------------------------------------------------ bytes

  /** [start, end) ranges of fields the engine may legitimately rewrite: feature words, bitmap flags. */
  private static List<long[]> maskedFields(ImageLayout layout, Path image) throws IOException {
    List<long[]> masked = new ArrayList<>();
    masked.add(new long[] {INCOMPATIBLE_FEATURES, INCOMPATIBLE_FEATURES + 8});
    masked.add(new long[] {AUTOCLEAR_FEATURES, AUTOCLEAR_FEATURES + 8});
    for (long flags : layout.bitmapFlagOffsets(image)) {
      masked.add(new long[] {flags, flags + 4});
    }
    return masked;
  }

  /** The bytes of the whole clusters that hold {@code region}, masked fields zeroed, zeros past the end of the file. */
  private static byte[] protectedBytes(Path image, Region region, int cluster, List<long[]> masked) throws IOException {
    long start = region.offset() & -cluster;
    long end = roundUp(region.end(), cluster);
    byte[] bytes = readBytes(image, start, (int) (end - start));
    for (long[] field : masked) {
      for (long at = Math.max(field[0], start); at < Math.min(field[1], end); at++) {
        bytes[(int) (at - start)] = 0;
      }
    }
    return bytes;
  }

  private static byte[] readBytes(Path image, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
      while (buffer.hasRemaining()) {
        if (channel.read(buffer, offset + buffer.position()) < 0) {
          break;
        }
      }
    }
    return buffer.array();
  }

  private static long roundUp(long value, long cluster) {
    return (value + cluster - 1) & -cluster;
  }

  private static String hex(long value) {
    return "0x" + Long.toHexString(value);
  }

  @Test
  void casesCoverEveryStructureAndPointer() {
    List<OverlapCase> all = cases().toList();
    for (Target target : Target.values()) {
      assertThat(all).as("cases into %s", target.label()).anyMatch(c -> c.target() == target);
    }
    for (Pointer pointer : Pointer.values()) {
      if (pointer != Pointer.L1_SIZE) {
        for (Target target : Target.values()) {
          assertThat(all).as("cases through a %s into %s", pointer.words, target.label())
              .anyMatch(c -> c.pointer() == pointer && (c.target() == target || target == Target.HEADER));
        }
      }
    }
    assertThat(all).anyMatch(c -> c.pointer() == Pointer.L1_SIZE);
  }

}
