package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Preallocation;
import java.io.IOException;

/**
 * qemu-img resize: a new size, or a change of the size, checked as img_resize checks it (positive,
 * preallocation only to grow, shrinking only when allowed, qcow2 sizes in whole sectors), then the
 * resize, the new part allocated as the preallocation asks, and a flush. A shrink deletes what lies
 * past the new end, as qemu-img's does; a qcow2 image with internal snapshots refuses it.
 */
public final class ImageResize {
  private ImageResize() {}

  /** What a resize asks for: a new size, or (with {@code sign} 1 or -1) bytes to add or take away. */
  public record SizeChange(int sign, long bytes) {
    /** Checks the sign (-1, 0 or 1) and that the byte count is not negative. */
    public SizeChange {
      if (sign < -1 || sign > 1 || bytes < 0) {
        throw new IllegalArgumentException("sign must be -1, 0 or 1 and bytes not negative: " + sign + ", " + bytes);
      }
    }

    /** The size {@code bytes}. */
    public static SizeChange to(long bytes) {
      return new SizeChange(0, bytes);
    }

    /** {@code bytes} more ({@code sign} 1) or fewer ({@code sign} -1) than the current size. */
    public static SizeChange by(int sign, long bytes) {
      return new SizeChange(sign, bytes);
    }

    /** The size this change leads to from {@code current}; not positive when it would overflow. */
    long from(long current) {
      if (sign == 0) {
        return bytes;
      }
      long total = current + sign * bytes;
      return sign > 0 && total < current ? -1 : total;
    }
  }

  /** A resize img_resize refuses before changing anything, with its message. */
  public static final class ResizeException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why: qemu-img follows a refused shrink with a warning of its own. */
    public enum Refusal {
      /** The new size would be zero or negative. */
      NOT_POSITIVE,
      /** The preallocation mode is not one a resize takes. */
      UNSUPPORTED_PREALLOCATION,
      /** Preallocation was asked for a resize that does not grow the image. */
      PREALLOCATION_NEEDS_GROWTH,
      /** The resize would shrink the image without --shrink. */
      SHRINK_NOT_ALLOWED,
      /** The new size of a qcow2 image is not a multiple of 512. */
      UNALIGNED
    }

    private final Refusal refusal;

    ResizeException(Refusal refusal, String message) {
      super(message);
      this.refusal = refusal;
    }

    /** Which refusal this is. */
    public Refusal refusal() {
      return refusal;
    }
  }

  /**
   * Refuses a preallocation that a resize of a {@code format} image cannot do: metadata, except on
   * qcow2 (QEMU's file driver refuses it; qcow2 allocates its metadata for the new part).
   */
  public static void checkPreallocation(Preallocation preallocation, ImageFormat format) throws ResizeException {
    if (preallocation == Preallocation.METADATA && format != ImageFormat.QCOW2) {
      throw new ResizeException(ResizeException.Refusal.UNSUPPORTED_PREALLOCATION,
          "Unsupported preallocation mode: metadata");
    }
  }

  /**
   * Resizes {@code disk} as {@code change} says; {@code allowShrink} (--shrink) lets it become
   * smaller; {@code preallocation} (off, falloc or full) allocates the new part. Returns the new size.
   */
  public static long resize(DiskFile disk, SizeChange change, boolean allowShrink, Preallocation preallocation)
      throws IOException {
    checkPreallocation(preallocation, disk.format());
    long current = disk.size();
    long total = change.from(current);
    if (total <= 0) {
      throw new ResizeException(ResizeException.Refusal.NOT_POSITIVE, "New image size must be positive");
    }
    if (total <= current && preallocation != Preallocation.OFF) {
      throw new ResizeException(ResizeException.Refusal.PREALLOCATION_NEEDS_GROWTH,
          "Preallocation can only be used for growing images");
    }
    if (total < current && !allowShrink) {
      throw new ResizeException(ResizeException.Refusal.SHRINK_NOT_ALLOWED,
          "Use the --shrink option to perform a shrink operation.");
    }
    if (disk.format() == ImageFormat.QCOW2 && total % 512 != 0) {
      throw new ResizeException(ResizeException.Refusal.UNALIGNED, "The new size must be a multiple of 512");
    }
    disk.resize(total);
    if (total > current) {
      preallocate(disk, current, total - current, preallocation);
    }
    disk.flush();
    return total;
  }

  /**
   * Preallocates the grown part of a disk: falloc and full allocate it with its content (zeros),
   * metadata (qcow2 only) maps it to host clusters without writing them, as QEMU's
   * preallocate_co does.
   */
  public static void preallocate(DiskFile disk, long offset, long length, Preallocation preallocation)
      throws IOException {
    switch (preallocation) {
      case OFF -> { }
      case METADATA -> {
        if (!(disk instanceof QcowFile image)) {
          throw new ResizeException(ResizeException.Refusal.UNSUPPORTED_PREALLOCATION,
              "Unsupported preallocation mode: metadata");
        }
        image.preallocateMetadata(offset, length);
      }
      case FALLOC, FULL -> disk.allocate(offset, length);
    }
  }
}
