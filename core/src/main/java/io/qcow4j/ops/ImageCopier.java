package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.internal.TaskFailures;
import io.qcow4j.internal.storage.CopyBehind;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The copy of qemu-img convert into an image target (qcow2, or an existing image with -n): the
 * sources' guest content cut into chunks of whole target clusters, each chunk read and judged
 * (zeros, equal to the target's backing file, or data to write, compressed or not) by a pool of
 * workers, a bounded window of them in flight; the writes then go to the target in chunk order, so
 * that the output is the same file on every run (or, with out-of-order writes and no compression,
 * straight from the workers).
 */
final class ImageCopier {
  /**
   * Guest bytes a worker takes at once when it does not compress: qemu-img's IO_BUF_SIZE, so that
   * the in-order writes, one thread's work, are as few and as large as qemu-img's.
   */
  private static final int CHUNK_BYTES = Buffers.IO_BUFFER_BYTES;
  /**
   * The direct memory the chunks in flight may hold at once (each up to two pooled buffers, its
   * data and its backing file's): with 2 MiB chunks, eight in flight, whatever the worker count,
   * inside the tool's 64 MiB of direct memory for convert.
   */
  private static final long WINDOW_BYTES = 32L << 20;
  /** Kernel copies queued behind the in-order writes at most (qemu-img's default -m: 8 requests). */
  private static final int COPIES_IN_FLIGHT = 8;

  /**
   * What one chunk asks of the target, in guest order: {@code length} bytes of {@code data} from
   * index {@code from} (a write), compressed bytes, or zeros.
   */
  private record Action(Kind kind, long offset, ByteBuffer data, byte[] compressed, int from, int length) {
    enum Kind { WRITE, COMPRESSED, ZERO }
  }

  /**
   * One chunk's verdict: its length, its writes, and the pooled buffers they read from (null when
   * none), given back once the writes are done; or the mapping of the source file they read from
   * (null when none), unmapped then.
   */
  private record Chunk(long start, long length, List<Action> actions, ByteBuffer data, ByteBuffer base,
      MappingGroups.Group group, MemorySegment mapping) {
    Chunk(long start, long length, List<Action> actions, ByteBuffer data, ByteBuffer base) {
      this(start, length, actions, data, base, null, null);
    }
  }

  private final List<DiskFile> sources;
  private final long[] sourceStarts;
  private final long total;
  private final DiskFile target;
  private final QcowFile compressTarget;
  private final DiskFile backing;
  private final long backingSize;
  private final ImageConvert.Options options;
  private final int unitBytes;
  private final int chunkBytes;
  /**
   * The requests qemu-img's convert takes, which progress counts: a cluster at a time when it
   * compresses, else a chunk.
   */
  private final int requestBytes;
  /** qemu-img's judgement of data runs by sector for -S (null with -S 0). */
  private final SparseRuns sparseRuns;
  /**
   * Whether the copy goes as qemu-img's: extent by extent of the sources' block status, data
   * extents in chunks judged by sector ({@link #sparseRuns}); without compression, a backing file
   * or -S 0, which go by units.
   */
  private final boolean bySector;
  /**
   * Direct buffers of one chunk for the sources' data and for the backing file's: at most a
   * window's worth of each is out at once, so the copy's memory does not grow with the image.
   */
  private final Buffers.Pool dataBuffers;
  private final Buffers.Pool baseBuffers;
  /** The extent the sources' block status last reported, and its source (see {@link #walkStatus}); one thread's. */
  private Extent lastStatus;
  private int lastStatusSource = -1;
  /** The sources' file holes, judged zeros unread (see {@link #mappedChunk}). */
  private final HostHoles hostHoles = new HostHoles();
  /** The arenas of the source mappings of the chunks in flight (see {@link #mappedChunk}). */
  private final MappingGroups mappings = new MappingGroups();

  ImageCopier(List<DiskFile> sources, DiskFile target, ImageConvert.Options options) throws IOException {
    this.sources = List.copyOf(sources);
    this.sourceStarts = new long[sources.size()];
    long sum = 0;
    for (int i = 0; i < sources.size(); i++) {
      sourceStarts[i] = sum;
      sum += sources.get(i).size();
    }
    this.total = sum;
    if (target.size() < total) {
      throw new IllegalArgumentException("the target (" + target.size() + " bytes) is smaller than the sources ("
          + total + " bytes)");
    }
    this.target = target;
    this.options = options;
    QcowFile qcow2 = target instanceof QcowFile image ? image : null;
    if (options.compress() && qcow2 == null) {
      throw new IllegalArgumentException("compressed output needs a qcow2 target");
    }
    this.compressTarget = options.compress() ? qcow2 : null;
    // A new image reads as its backing file: only what differs from it is written.
    this.backing = options.targetIsNew() ? target.backing().orElse(null) : null;
    this.backingSize = backing != null ? backing.size() : 0;
    this.unitBytes = unitBytes(qcow2, options.compress());
    // compressed too: a worker compresses a chunk's clusters one after the other, so that the
    // futures, block status walks and buffers go by chunks (a 64 KiB chunk each cost a third of
    // the CPU of a 256 MiB convert -c zstd besides compressing)
    this.chunkBytes = Math.max(qcow2 != null ? qcow2.clusterSize() : unitBytes, CHUNK_BYTES);
    this.requestBytes = options.compress() ? unitBytes : chunkBytes;
    this.dataBuffers = new Buffers.Pool(chunkBytes);
    this.baseBuffers = new Buffers.Pool(chunkBytes);
    // the target's request alignment: a sector for an encrypted qcow2 image, else a byte
    this.sparseRuns = options.detectZeroes()
        ? new SparseRuns((int) (options.sparseBytes() / Buffers.SECTOR), 1) : null;
    this.bySector = sparseRuns != null && backing == null && compressTarget == null;
  }

  /**
   * The piece that is written or left out whole: a cluster; with extended L2 entries a subcluster,
   * but not below qemu-img's 4 KiB zero detection (compressed clusters are always whole); 64 KiB
   * for other targets.
   */
  private static int unitBytes(QcowFile qcow2, boolean compress) throws IOException {
    if (qcow2 == null) {
      return 64 << 10;
    }
    int clusterSize = qcow2.clusterSize();
    if (compress || !qcow2.info().qcow2().extendedL2()) {
      return clusterSize;
    }
    return Math.min(clusterSize, Math.max(clusterSize / 32, 4096));
  }

  /**
   * Copies everything. Progress is counted as qemu-img's convert counts it: the chunks that hold
   * data (and with -S 0 the zero runs too), reported as they are handed to the workers.
   */
  void copy(ImageConvert.Progress progress) throws IOException {
    long counted = progress == ImageConvert.Progress.NONE ? 0 : countedBytes();
    long started = 0;
    int threads = Math.max(1, options.compress() ? Math.max(options.workers(), Runtime.getRuntime().availableProcessors())
        : options.workers());
    boolean direct = options.outOfOrderWrites() && !options.compress();
    ExecutorService pool = Executors.newFixedThreadPool(threads, runnable -> {
      Thread thread = new Thread(runnable, "qcow4j-convert");
      thread.setDaemon(true);
      return thread;
    });
    // In order, this thread decides where each write goes (the target's layout is the same on
    // every run) and the kernel copies of mapped chunks run behind it, one after the other on a
    // thread of their own: writers of one file take its inode lock in turn (two at once spin on
    // it), and one copy stream keeps the target's writes sequential
    ExecutorService copier = direct ? null : Executors.newSingleThreadExecutor(runnable -> {
      Thread thread = new Thread(runnable, "qcow4j-copy");
      thread.setDaemon(true);
      return thread;
    });
    CopyBehind behind = direct ? null : CopyBehind.open(copier, COPIES_IN_FLIGHT);
    // the source mappings' arenas close on the workers: a third of this thread's time otherwise
    mappings.closeOn(pool);
    try {
      Deque<CompletableFuture<Chunk>> window = new ArrayDeque<>();
      int windowChunks = (int) Math.max(2, Math.min(2L * threads, WINDOW_BYTES / (2L * chunkBytes)));
      long position = 0;
      while (position < total || !window.isEmpty()) {
        while (position < total && window.size() < windowChunks) {
          long[] range = nextRange(position);
          long start = range[0];
          long end = range[1];
          boolean zero = range[2] != 0;
          if (counted > 0 && (!zero || !options.detectZeroes())) {
            started = reportStarted(progress, started, end - start, counted);
          }
          window.add(CompletableFuture.supplyAsync(() -> {
            try {
              // -S 0 without a backing file: zeros are written as data, as qemu-img's convert
              // writes a zero run when min_sparse is 0
              Chunk chunk = zero && !zerosAsData() ? zeroChunk(start, end) : dataChunk(start, end);
              if (direct) {
                apply(chunk);
              }
              return chunk;
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          }, pool));
          position = end;
        }
        Chunk chunk = join(window.removeFirst());
        if (!direct) {
          apply(chunk);
        }
        release(chunk);
      }
      if (behind != null) {
        behind.close();
      }
      target.flush();
      mappings.close();
    } catch (IOException | RuntimeException | Error e) {
      if (behind != null) {
        // the copies in flight end before the workers stop and the files close
        try {
          behind.close();
        } catch (IOException | RuntimeException | Error suppressed) {
          if (suppressed != e) {
            e.addSuppressed(suppressed);
          }
        }
      }
      throw e;
    } finally {
      for (Runnable never : pool.shutdownNow()) {
        if (never instanceof MappingGroups.Closing closing) {
          closing.run();
        }
      }
      if (copier != null) {
        copier.shutdownNow();
      }
    }
  }

  /**
   * Reports a range handed to the workers, as qemu-img counts a request when a coroutine takes it:
   * from this one thread, in guest order, so the reports are the ones qemu-img's walk makes. Zero
   * runs (counted with -S 0) go by chunks, as qemu-img takes them.
   */
  private long reportStarted(ImageConvert.Progress progress, long started, long length, long counted) {
    long reported = started;
    long left = length;
    while (left > 0) {
      long step = Math.min(left, requestBytes);
      reported += step;
      left -= step;
      progress.update(reported, counted);
    }
    return reported;
  }

  /**
   * The bytes qemu-img's convert counts for its progress (its allocated_sectors, found by a walk of
   * block status before the copy): the ranges with data, and with -S 0 the zero ranges too.
   */
  private long countedBytes() throws IOException {
    if (!options.detectZeroes()) {
      return total;
    }
    long counted = 0;
    long position = 0;
    while (position < total) {
      long[] range = nextRange(position);
      if (range[2] == 0) {
        counted += range[1] - range[0];
      }
      position = range[1];
    }
    return counted;
  }

  private static Chunk join(CompletableFuture<Chunk> future) throws IOException {
    try {
      return future.join();
    } catch (CompletionException e) {
      TaskFailures.rethrow(e.getCause());
      throw e;
    }
  }

  /**
   * The next piece from {@code position} (unit-aligned): a run of whole units that the sources'
   * block status calls zeros, or up to a chunk of units holding some data. Returns {start, end, zero?1:0}.
   */
  private long[] nextRange(long position) throws IOException {
    if (bySector) {
      // as qemu-img's convert_iteration_sectors: one extent, data at most a buffer at a time
      Extent extent = walkStatus(position);
      long end = position + extent.length();
      return extent.zero() ? new long[] {position, end, 1}
          : new long[] {position, Math.min(end, position + chunkBytes), 0};
    }
    long zeroEnd = zeroRunEnd(position);
    long alignedZeroEnd = zeroEnd >= total ? total : zeroEnd / unitBytes * unitBytes;
    if (alignedZeroEnd > position && zerosAsData()) {
      // written as data: a chunk at a time, through the data buffers
      alignedZeroEnd = Math.min(alignedZeroEnd, position + chunkBytes);
    }
    if (alignedZeroEnd > position) {
      return new long[] {position, alignedZeroEnd, 1};
    }
    return new long[] {position, dataEnd(position, Math.min(total, position + chunkBytes)), 0};
  }

  /** The end of the run of ranges from {@code position} that the sources' block status calls zeros. */
  private long zeroRunEnd(long position) throws IOException {
    long cursor = position;
    while (cursor < total) {
      Extent extent = status(cursor, total - cursor);
      if (!extent.zero()) {
        break;
      }
      cursor += extent.length();
      if (!options.detectZeroes()) {
        // with -S 0 the zeros are written and counted for progress extent by extent, as qemu-img does
        break;
      }
    }
    return cursor;
  }

  /**
   * The end of a data chunk from {@code position}: {@code limit}, or earlier where a zero range
   * begins that holds at least one whole unit (short zero ranges stay inside the chunk).
   */
  private long dataEnd(long position, long limit) throws IOException {
    long cursor = position;
    while (cursor < limit) {
      Extent extent = status(cursor, limit - cursor);
      long extentEnd = cursor + extent.length();
      if (extent.zero()) {
        long firstWhole = (cursor + unitBytes - 1) / unitBytes * unitBytes;
        if (firstWhole > position && (firstWhole + unitBytes <= extentEnd || extentEnd >= total)) {
          return Math.min(limit, firstWhole);
        }
      }
      cursor = extentEnd;
    }
    return limit;
  }

  /** The block status of the concatenated sources at {@code offset}, not crossing into the next source. */
  private Extent status(long offset, long maxLength) throws IOException {
    int index = sourceIndex(offset);
    DiskFile source = sources.get(index);
    long local = offset - sourceStarts[index];
    Extent extent = source.blockStatus(local, Math.min(source.size() - local, maxLength));
    if (extent.length() <= 0) {
      throw new IOException(source.files() + ": block status at offset " + local + " returned an empty range");
    }
    return extent;
  }

  /**
   * {@link #status} from {@code offset} to the end, the walk of qemu-img's convert_iteration_sectors:
   * the last extent a source reported is kept, and a query inside it is answered from it, as
   * qemu-img keeps its status until sector_next_status. A data extent of many chunks then costs one
   * query (two lseeks of a raw file, a walk of qcow2 tables) rather than one per chunk, and the
   * chunks end where qemu-img's end.
   */
  private Extent walkStatus(long offset) throws IOException {
    int index = sourceIndex(offset);
    long local = offset - sourceStarts[index];
    Extent kept = lastStatus;
    if (kept != null && lastStatusSource == index && local >= kept.start() && local < kept.end()) {
      long delta = local - kept.start();
      return new Extent(local, kept.end() - local, kept.depth(), kept.present(), kept.zero(), kept.data(),
          kept.compressed(), kept.hostOffset() < 0 ? -1 : kept.hostOffset() + delta, kept.file());
    }
    Extent extent = status(offset, total - offset);
    lastStatus = extent;
    lastStatusSource = index;
    return extent;
  }

  private int sourceIndex(long offset) {
    int index = Arrays.binarySearch(sourceStarts, offset);
    if (index < 0) {
      index = -index - 2;
    }
    // skip empty sources that start at the same offset
    while (index + 1 < sourceStarts.length && sourceStarts[index + 1] <= offset) {
      index++;
    }
    return index;
  }

  /**
   * Whether zero runs are written as data: -S 0 into a target with no backing file to compare with,
   * new or not (-n, a streamOptimized vmdk), as qemu-img's convert turns a BLK_ZERO request into a
   * buffer of zeros written as data when min_sparse is 0.
   */
  private boolean zerosAsData() {
    return !options.detectZeroes() && backing == null;
  }

  /** A run the sources read as zeros: nothing to do on a new image unless its backing file has data there. */
  private Chunk zeroChunk(long start, long end) throws IOException {
    List<Action> actions = new ArrayList<>();
    if (!options.targetIsNew()) {
      addZero(actions, start, end);
      return new Chunk(start, end - start, actions, null, null);
    }
    if (backing != null) {
      long cursor = start;
      long stop = Math.min(end, backingSize);
      while (cursor < stop) {
        Extent extent = backing.blockStatus(cursor, stop - cursor);
        long extentEnd = cursor + Math.max(1, extent.length());
        if (!extent.zero()) {
          long from = Math.max(start, cursor / unitBytes * unitBytes);
          long to = Math.min(end, (extentEnd + unitBytes - 1) / unitBytes * unitBytes);
          addZero(actions, from, to);
        }
        cursor = extentEnd;
      }
    }
    return new Chunk(start, end - start, actions, null, null);
  }

  /** A chunk with data: read (or mapped), then judged unit by unit. */
  private Chunk dataChunk(long start, long end) throws IOException {
    int length = (int) (end - start);
    if (bySector) {
      Chunk mapped = mappedChunk(start, length);
      if (mapped != null) {
        return mapped;
      }
    }
    ByteBuffer data = dataBuffers.take();
    ByteBuffer base = null;
    try {
      try {
        readSources(data, start, length);
      } catch (IOException e) {
        throw requests().locateRead(start, length, e);
      }
      if (backing != null && start < backingSize) {
        base = baseBuffers.take();
        int fromBacking = (int) Math.min(length, backingSize - start);
        backing.readFully(base.slice(0, fromBacking), start);
        // past the backing file's end a new image reads as zeros
        Buffers.fillZeros(base, fromBacking, length - fromBacking);
      }
      return new Chunk(start, length, judge(data, base, start, length), data, base);
    } catch (IOException | RuntimeException | Error e) {
      dataBuffers.give(data);
      baseBuffers.give(base);
      throw e;
    }
  }

  /**
   * A data chunk that one source keeps byte for byte in a local file, judged on a read-only
   * mapping of the file, its writes made from that mapping: the kernel copies the bytes once, from
   * the source's page cache to the target's, where a read into a buffer of ours and a write from it
   * copy them twice. Null when the source does not keep the chunk so (then it is read).
   */
  private Chunk mappedChunk(long start, int length) throws IOException {
    int index = sourceIndex(start);
    DiskFile source = sources.get(index);
    long local = start - sourceStarts[index];
    if (local + length > source.size()) {
      return null;
    }
    Optional<HostRange> range = source.hostRange(local, length);
    if (range.isEmpty() || !(range.get().storage() instanceof FileStorage file)) {
      return null;
    }
    // shared: the writes that read the mapping are made by the thread that applies the chunk
    MappingGroups.Group group = mappings.take();
    Optional<MemorySegment> mapping = Optional.empty();
    try {
      // a copy source: a target in a local file on the same file system copies from the source file
      mapping = file.mapForCopy(range.get().offset(), length, group.arena());
      if (mapping.isEmpty()) {
        mappings.release(group);
        return null;
      }
      ByteBuffer view = Buffers.Mapped.view(mapping.get());
      long[] holes = hostHoles.in(file, range.get().offset(), length);
      return new Chunk(start, length, judgeSectors(view, true, holes, start, length), null, null, group, mapping.get());
    } catch (InternalError e) {
      unmap(group, mapping.orElse(null));
      throw new IOException(source.files() + ": the file shrank while read at offset " + local, e);
    } catch (IOException | RuntimeException | Error e) {
      unmap(group, mapping.orElse(null));
      throw e;
    }
  }

  private List<Action> judge(ByteBuffer data, ByteBuffer base, long start, int length) {
    if (bySector) {
      return judgeSectors(data, false, null, start, length);
    }
    List<Action> actions = new ArrayList<>();
    for (int from = 0; from < length; from += unitBytes) {
      int unit = Math.min(unitBytes, length - from);
      long offset = start + from;
      boolean zero = options.detectZeroes() && Buffers.isZero(data, from, unit);
      if (options.targetIsNew()) {
        // a new image reads as its backing file (zeros past its end, or without one)
        boolean sameAsBefore = base != null ? Buffers.equal(data, base, from, unit) : zero;
        if (sameAsBefore) {
          continue;
        }
      }
      if (zero) {
        addZero(actions, offset, offset + unit);
      } else if (compressTarget != null) {
        ByteBuffer cluster = data.slice(from, unit);
        if (unit < unitBytes) {
          ByteBuffer padded = ByteBuffer.allocate(unitBytes);
          padded.put(cluster).clear();
          cluster = padded;
        }
        byte[] packed = compressTarget.compressCluster(cluster);
        if (packed != null) {
          actions.add(new Action(Action.Kind.COMPRESSED, offset, null, packed, 0, packed.length));
        } else {
          addWrite(actions, data, from, unit, offset);
        }
      } else {
        addWrite(actions, data, from, unit, offset);
      }
    }
    return actions;
  }

  /**
   * Without a backing file or compression, as qemu-img's convert judges a data run: runs of
   * sectors written (data, with zero runs shorter than -S inside) or left out (zeros; zeroed on a
   * target that is not new), their ends aligned to -S rounded down to a power of two. With
   * {@code mapped}, {@code data} is a view of a file's mapping (see {@link Buffers.Mapped}) and
   * {@code holes} (null: none) the file's holes in it ({@link HostHoles}), judged zeros unread.
   */
  private List<Action> judgeSectors(ByteBuffer data, boolean mapped, long[] holes, long start, int length) {
    List<Action> actions = new ArrayList<>();
    MemorySegment segment = MemorySegment.ofBuffer(data.slice(0, length));
    ByteBuffer view = mapped ? data : null;
    int sectors = (length + Buffers.SECTOR - 1) / Buffers.SECTOR;
    long firstSector = start / Buffers.SECTOR;
    int sector = 0;
    while (sector < sectors) {
      long run = sparseRuns.runMin(segment, view, holes, length, sector, sectors - sector, firstSector + sector);
      int runSectors = (int) (run >>> 1);
      int from = sector * Buffers.SECTOR;
      int to = Math.min(length, (sector + runSectors) * Buffers.SECTOR);
      if ((run & 1) != 0) {
        addWrite(actions, data, from, to - from, start + from);
      } else if (!options.targetIsNew()) {
        // a request of its own, as qemu-img's: zeroing whole clusters unmaps them, parts do not
        actions.add(new Action(Action.Kind.ZERO, start + from, null, null, 0, to - from));
      }
      sector += runSectors;
    }
    return actions;
  }

  private static void addWrite(List<Action> actions, ByteBuffer data, int from, int length, long offset) {
    if (!actions.isEmpty()) {
      Action last = actions.getLast();
      if (last.kind() == Action.Kind.WRITE && last.data() == data && last.from() + last.length() == from) {
        actions.set(actions.size() - 1, new Action(Action.Kind.WRITE, last.offset(), data, null, last.from(),
            last.length() + length));
        return;
      }
    }
    actions.add(new Action(Action.Kind.WRITE, offset, data, null, from, length));
  }

  private static void addZero(List<Action> actions, long from, long to) {
    if (to <= from) {
      return;
    }
    if (!actions.isEmpty()) {
      Action last = actions.getLast();
      if (last.kind() == Action.Kind.ZERO && last.offset() + last.length() == from && to - last.offset() <= Integer.MAX_VALUE) {
        actions.set(actions.size() - 1, new Action(Action.Kind.ZERO, last.offset(), null, null, 0,
            (int) (to - last.offset())));
        return;
      }
    }
    long cursor = from;
    while (cursor < to) {
      int piece = (int) Math.min(to - cursor, 1L << 30);
      actions.add(new Action(Action.Kind.ZERO, cursor, null, null, 0, piece));
      cursor += piece;
    }
  }

  /** Fills the first {@code length} bytes of {@code data} with the concatenated sources' content from guest {@code start}. */
  private void readSources(ByteBuffer data, long start, int length) throws IOException {
    int filled = 0;
    while (filled < length) {
      long offset = start + filled;
      int index = sourceIndex(offset);
      DiskFile source = sources.get(index);
      long local = offset - sourceStarts[index];
      int piece = (int) Math.min(length - filled, source.size() - local);
      source.readFully(data.slice(filled, piece), local);
      filled += piece;
    }
  }

  /**
   * Makes a chunk's writes. A failure is reported as qemu-img reports its failing request: a
   * compressed cluster's own (each is a request there), else the chunk's start.
   */
  private void apply(Chunk chunk) throws IOException {
    for (Action action : chunk.actions()) {
      try {
        switch (action.kind()) {
          case WRITE -> target.writeFully(action.data().slice(action.from(), action.length()), action.offset());
          case COMPRESSED -> {
            // QEMU's qcow2_alloc_compressed_cluster_offset: compression cannot overwrite anything
            ImageWrites.refuseCompressedOverAllocated(compressTarget, action.offset());
            compressTarget.writeCompressed(action.offset(), action.compressed());
          }
          case ZERO -> {
            // qemu-img opens the target with discard=unmap unless -S 0, and zeroes with MAY_UNMAP
            if (options.detectZeroes()) {
              target.writeZeroesUnmap(action.offset(), action.length());
            } else {
              target.writeZeroes(action.offset(), action.length());
            }
          }
        }
      } catch (ImageConvert.RequestFailedException e) {
        throw e;
      } catch (IOException e) {
        long offset = action.kind() == Action.Kind.COMPRESSED ? action.offset() : chunk.start();
        throw new ImageConvert.RequestFailedException(ImageConvert.RequestFailedException.Direction.WRITE, offset, e);
      }
    }
  }

  /** qemu-img's walk of this copy's requests, to name a failed read as it does. */
  private ConvertRequests requests() throws IOException {
    int clusterBytes = target instanceof QcowFile qcow2 ? qcow2.clusterSize() : 0;
    return new ConvertRequests(sources, backing != null ? backingSize : -1, compressTarget != null ? clusterBytes : 0,
        Math.max(CHUNK_BYTES, clusterBytes));
  }

  private void release(Chunk chunk) {
    dataBuffers.give(chunk.data());
    baseBuffers.give(chunk.base());
    if (chunk.group() != null) {
      unmap(chunk.group(), chunk.mapping());
    }
  }

  private void unmap(MappingGroups.Group group, MemorySegment mapping) {
    if (mapping != null) {
      FileStorage.forgetCopySource(mapping);
    }
    mappings.release(group);
  }
}
