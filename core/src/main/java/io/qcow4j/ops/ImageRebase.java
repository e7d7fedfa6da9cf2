package io.qcow4j.ops;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * qemu-img rebase: gives an image another backing file (or none) without changing what it reads.
 * The safe mode copies into the image every range it does not allocate where the old backing chain
 * and the new one read differently (compared sector by sector, as qemu-img does), then rewrites
 * the header; a crash before the header is rewritten leaves the image reading as before. The unsafe
 * mode only rewrites the header. With no new backing file the image is flattened: everything its
 * chain provides is copied in.
 */
public final class ImageRebase {
  private static final int SECTOR = Buffers.SECTOR;
  private static final int BUFFER_BYTES = Buffers.IO_BUFFER_BYTES;

  private ImageRebase() {}

  /** A rebase that cannot be done, with qemu-img's message. */
  public static sealed class RebaseException extends IOException permits NewBackingException {
    private static final long serialVersionUID = 1L;

    RebaseException(String message) {
      super(message);
    }

    RebaseException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** The new backing file (named {@link #backingName()}, found at {@link #fullName()}) could not be opened. */
  public static final class NewBackingException extends RebaseException {
    private static final long serialVersionUID = 1L;
    private final String backingName;
    private final String fullName;

    NewBackingException(String backingName, String fullName, IOException cause) {
      super("Could not open new backing file '" + backingName + "': " + cause.getMessage(), cause);
      this.backingName = backingName;
      this.fullName = fullName;
    }

    /** The new backing file as given. */
    public String backingName() {
      return backingName;
    }

    /** Where it was looked for: the name resolved against the image's directory. */
    public String fullName() {
      return fullName;
    }
  }

  /**
   * Rebases the image named {@code filename} ({@code format}, or probed when null) onto
   * {@code newBacking} (null or empty: no backing file), recorded with {@code newBackingFormat},
   * which a new backing file needs; {@code unsafe} only rewrites the header.
   */
  public static void rebase(String filename, ImageFormat format, String newBacking, String newBackingFormat,
      boolean unsafe, ImageConvert.Progress progress) throws IOException {
    rebase(ImageSpec.ofFilename(filename, format), Secrets.none(), newBacking, newBackingFormat, unsafe, false,
        progress);
  }

  /**
   * As {@link #rebase(String, ImageFormat, String, String, boolean, ImageConvert.Progress)}, for the
   * image {@code spec} describes (a backing file the spec sets itself is refused);
   * {@code forceShareNewBacking}: open the new backing file with force-share (qemu-img's -U).
   */
  public static void rebase(ImageSpec spec, Secrets secrets, String newBacking, String newBackingFormat,
      boolean unsafe, boolean forceShareNewBacking, ImageConvert.Progress progress) throws IOException {
    String filename = spec.filename();
    boolean hasNewBacking = newBacking != null && !newBacking.isEmpty();
    if (hasNewBacking && newBackingFormat == null) {
      throw new RebaseException("Could not change the backing file to '" + newBacking
          + "': backing format must be specified");
    }
    OpenOptions options = OpenOptions.readWriteDefaults()
        .withBackingPolicy(unsafe ? BackingPolicy.IGNORE : BackingPolicy.FOLLOW);
    DiskFile image;
    try {
      image = DiskImages.open(spec, options, secrets);
      if (spec.formatOptions(image.format()).backing() instanceof FormatOptions.Override override) {
        image.close();
        throw new UnsupportedFeatureException("rebase of an image whose backing file is set by the image options ('"
            + override.optionName() + "') is not supported");
      }
    } catch (IOException e) {
      throw new ImageInfos.OpenFailure(spec.name(), e);
    }
    DiskFile newChain = null;
    boolean done = false;
    try {
      if (!(image instanceof QcowFile qcow)) {
        throw new RebaseException("Could not change the backing file to '" + (hasNewBacking ? newBacking : "")
            + "': Operation not supported");
      }
      if (!unsafe) {
        if (hasNewBacking) {
          String fullName = BackingNames.fullName(filename, newBacking);
          try {
            newChain = DiskImages.open(Path.of(fullName), OpenOptions.readOnlyDefaults()
                .withFormat(ImageFormat.parse(newBackingFormat)).withForceShare(forceShareNewBacking));
          } catch (IOException e) {
            throw new NewBackingException(newBacking, fullName, e);
          }
        }
        copyDifferences(qcow, image.backing().orElse(null), newChain, progress);
      }
      qcow.setBackingFile(hasNewBacking ? newBacking : null, hasNewBacking ? newBackingFormat : null);
      done = true;
    } finally {
      closeQuietlyUnless(done, newChain, image);
    }
  }

  /**
   * Writes into {@code image} every range it does not allocate where {@code oldChain} and
   * {@code newChain} (either null: zeros) read differently: the old content, as zeros where the old
   * chain has ended. Progress is reported once per range compared (at most a 2 MiB buffer), the
   * steps qemu-img rebase counts; the ranges the image allocates are passed over unreported.
   */
  private static void copyDifferences(DiskFile image, DiskFile oldChain, DiskFile newChain,
      ImageConvert.Progress progress) throws IOException {
    long size = image.size();
    long oldSize = oldChain == null ? 0 : oldChain.size();
    long newSize = newChain == null ? 0 : newChain.size();
    byte[] oldBytes = new byte[BUFFER_BYTES];
    byte[] newBytes = new byte[BUFFER_BYTES];
    long length;
    for (long offset = 0; offset < size; offset += length) {
      Extent extent = image.blockStatus(offset, Math.min(BUFFER_BYTES, size - offset));
      length = extent.length();
      if (extent.depth() == 0 && extent.present()) {
        // qemu-img rebase counts no progress step for a range the image allocates
        continue;
      }
      boolean oldIsZero = offset >= oldSize;
      if (oldIsZero) {
        Arrays.fill(oldBytes, 0, (int) length, (byte) 0);
      } else {
        length = Math.min(length, oldSize - offset);
        oldChain.readFully(ByteBuffer.wrap(oldBytes, 0, (int) length), offset);
      }
      if (offset >= newSize) {
        Arrays.fill(newBytes, 0, (int) length, (byte) 0);
      } else {
        length = Math.min(length, newSize - offset);
        newChain.readFully(ByteBuffer.wrap(newBytes, 0, (int) length), offset);
      }
      int written = 0;
      while (written < length) {
        int run = sameRun(oldBytes, newBytes, written, (int) length);
        boolean differ = differs(oldBytes, newBytes, written, Math.min(SECTOR, (int) length - written));
        if (differ) {
          if (oldIsZero) {
            image.writeZeroes(offset + written, run);
          } else {
            image.writeFully(ByteBuffer.wrap(oldBytes, written, run), offset + written);
          }
        }
        written += run;
      }
      progress.update(offset + length, size);
    }
    image.flush();
  }

  /**
   * qemu-img's compare_buffers: the length from {@code from} of the run of sectors that all differ
   * or all match, as the first one does.
   */
  private static int sameRun(byte[] first, byte[] second, int from, int end) {
    int at = from + Math.min(SECTOR, end - from);
    boolean differ = differs(first, second, from, at - from);
    while (at < end) {
      int sector = Math.min(SECTOR, end - at);
      if (differs(first, second, at, sector) != differ) {
        break;
      }
      at += sector;
    }
    return at - from;
  }

  private static boolean differs(byte[] first, byte[] second, int from, int length) {
    return Arrays.mismatch(first, from, from + length, second, from, from + length) >= 0;
  }

  private static void closeQuietlyUnless(boolean report, DiskFile... disks) throws IOException {
    IOException failure = null;
    for (DiskFile disk : disks) {
      if (disk == null) {
        continue;
      }
      try {
        disk.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        }
      }
    }
    if (failure != null && report) {
      throw failure;
    }
  }
}
