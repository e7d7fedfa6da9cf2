package io.qcow4j.vmdk;

import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.Arguments;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.FirstBlock;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A new VMDK whose extents are files of their own (monolithicFlat, twoGbMaxExtentSparse,
 * twoGbMaxExtentFlat): a descriptor file naming them, and each extent written through its own
 * target (a raw file for a flat extent, a {@link VmdkTarget} for a sparse one), a request cut at
 * the extents' boundaries.
 */
final class ExtentsVmdkTarget implements DiskFile {
  /** The size of the extents of the twoGbMaxExtent subformats (vmdk_co_do_create's split_size). */
  static final long SPLIT_BYTES = 1L << 31;

  /** What a request does to the part of it one extent holds ({@code done}: the bytes of the request before it). */
  private interface PieceAction {
    void apply(DiskFile extent, long extentOffset, long done, long length) throws IOException;
  }

  private final Path path;
  private final long size;
  private final List<DiskFile> extents;
  private final long[] starts;
  private volatile boolean closed;
  private volatile boolean cidUpdated;

  private ExtentsVmdkTarget(Path path, long size, List<DiskFile> extents, long[] starts) {
    this.path = path;
    this.size = size;
    this.extents = extents;
    this.starts = starts;
  }

  /** Creates the descriptor at {@code path} and its extent files next to it, as vmdk_co_create_opts names them. */
  static DiskFile create(Path path, CreateOptions options, boolean flat, boolean split, VmdkTarget.Parent parent)
      throws IOException {
    if (flat && parent.hint() != null) {
      throw new UnsupportedFeatureException("Flat image can't have backing file");
    }
    long size = options.size();
    String fileName = path.getFileName().toString();
    int dot = fileName.lastIndexOf('.');
    String prefix = dot < 0 ? fileName : fileName.substring(0, dot);
    String postfix = dot < 0 ? "" : fileName.substring(dot);
    long extentBytes = split ? SPLIT_BYTES : size;
    List<DiskFile> extents = new ArrayList<>();
    List<Long> starts = new ArrayList<>();
    StringBuilder lines = new StringBuilder();
    try (FileStorage descriptor = FileStorage.create(path, true)) {
      long created = 0;
      for (int index = 1; created < size; index++) {
        long length = Math.min(size - created, extentBytes);
        String name = split ? String.format("%s-%c%03d%s", prefix, flat ? 'f' : 's', index, postfix)
            : prefix + "-flat" + postfix;
        Path extentPath = path.resolveSibling(name);
        starts.add(created);
        extents.add(flat ? flatExtent(extentPath, length) : VmdkTarget.createExtent(extentPath, options, length));
        lines.append("RW ").append(length / VmdkTarget.SECTOR).append(flat ? " FLAT \"" : " SPARSE \"").append(name)
            .append(flat ? "\" 0\n" : "\"\n");
        created += length;
      }
      byte[] text = VmdkTarget.descriptor(options, size, lines.toString(), parent);
      descriptor.write(ByteBuffer.wrap(text), 0);
    } catch (IOException | RuntimeException e) {
      closeAll(extents);
      throw e;
    }
    long[] startArray = starts.stream().mapToLong(Long::longValue).toArray();
    return new ExtentsVmdkTarget(path, size, List.copyOf(extents), startArray);
  }

  /**
   * A flat extent: a file of {@code length} bytes (vmdk_init_extent truncates it, nothing else;
   * the file protocol writes its first block as it grows the empty file).
   */
  private static DiskFile flatExtent(Path path, long length) throws IOException {
    try (FileStorage storage = FileStorage.create(path, true)) {
      FirstBlock.growEmpty(storage, length);
    }
    return RawDiskFile.open(path, false);
  }

  private static void closeAll(List<DiskFile> extents) {
    for (DiskFile extent : extents) {
      try {
        extent.close();
      } catch (IOException e) {
        // the creation already failed; its first failure is the one reported
      }
    }
  }

  /** Applies {@code action} to each extent's part of the {@code length} bytes at {@code offset}. */
  private void forEachPiece(long offset, long length, PieceAction action) throws IOException {
    long done = 0;
    while (done < length) {
      long at = offset + done;
      int index = extentAt(at);
      long extentEnd = index + 1 < starts.length ? starts[index + 1] : size;
      long piece = Math.min(length - done, extentEnd - at);
      action.apply(extents.get(index), at - starts[index], done, piece);
      done += piece;
    }
  }

  private int extentAt(long offset) {
    int index = java.util.Arrays.binarySearch(starts, offset);
    return index >= 0 ? index : -index - 2;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VMDK;
  }

  @Override
  public boolean isReadOnly() {
    return false;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.position(path.toString(), position);
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    int start = dst.position();
    forEachPiece(position, count, (extent, at, done, length) ->
        extent.readFully(dst.slice(start + (int) done, (int) length), at));
    dst.position(start + count);
    return count;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    ensureOpen();
    int count = src.remaining();
    Arguments.range(path.toString(), position, count, size);
    int start = src.position();
    updateCid();
    forEachPiece(position, count, (extent, at, done, length) ->
        extent.writeFully(src.slice(start + (int) done, (int) length), at));
    src.position(start + count);
    return count;
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(path.toString(), offset, length, size);
    updateCid();
    forEachPiece(offset, length, (extent, at, done, piece) -> extent.writeZeroes(at, piece));
  }

  /**
   * vmdk_write_cid, before the first write: the descriptor file gets a new CID and is written back
   * whole in the sectors its length rounds up to (bdrv_getlength's), the rest NUL, as QEMU's
   * driver rewrites it on an image's first write.
   */
  private void updateCid() throws IOException {
    if (cidUpdated) {
      return;
    }
    synchronized (this) {
      if (cidUpdated) {
        return;
      }
      try (FileStorage descriptor = FileStorage.open(path, false)) {
        long length = (descriptor.size() + VmdkTarget.SECTOR - 1) / VmdkTarget.SECTOR * VmdkTarget.SECTOR;
        byte[] text = new byte[(int) Math.min(length, VmdkLimits.MAX_DESCRIPTOR_BYTES)];
        descriptor.readOrZero(ByteBuffer.wrap(text), 0);
        String old = new String(text, StandardCharsets.ISO_8859_1);
        int cid = old.indexOf("CID");
        int parent = old.indexOf("parentCID");
        if (cid >= 0 && parent > cid) {
          String updated = old.substring(0, cid + 4) + Integer.toHexString(ThreadLocalRandom.current().nextInt())
              + "\n" + old.substring(parent).replace("\0", "");
          byte[] bytes = Arrays.copyOf(updated.getBytes(StandardCharsets.ISO_8859_1), text.length);
          descriptor.write(ByteBuffer.wrap(bytes), 0);
        }
      }
      cidUpdated = true;
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(path.toString(), offset, length, size);
    forEachPiece(offset, length, (extent, at, done, piece) -> extent.discard(at, piece));
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(path.toString(), offset, length, size);
    forEachPiece(offset, length, (extent, at, done, piece) -> extent.allocate(at, piece));
  }

  @Override
  public void resize(long newSize) throws IOException {
    throw new UnsupportedFeatureException(path + ": qcow4j cannot resize vmdk images");
  }

  @Override
  public void flush() throws IOException {
    ensureOpen();
    for (DiskFile extent : extents) {
      extent.flush();
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    ensureOpen();
    for (DiskFile extent : extents) {
      extent.force(metadata);
    }
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(path + ": block status at " + offset + " outside the disk (" + size
          + " bytes)");
    }
    int index = extentAt(offset);
    long extentEnd = index + 1 < starts.length ? starts[index + 1] : size;
    Extent inner = extents.get(index).blockStatus(offset - starts[index], Math.min(maxLength, extentEnd - offset));
    return new Extent(offset, inner.length(), 0, inner.present(), inner.zero(), inner.data(), inner.compressed(),
        inner.hostOffset(), inner.file());
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.VMDK, size, -1, null, null, null, null, 0, false);
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    List<Path> files = new ArrayList<>();
    files.add(path);
    for (DiskFile extent : extents) {
      files.addAll(extent.files());
    }
    return files;
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException failure = null;
    for (DiskFile extent : extents) {
      try {
        extent.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(path.toString());
    }
  }
}
