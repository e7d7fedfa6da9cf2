package io.qcow4j.internal;

import java.util.Arrays;
import java.util.function.Supplier;

/**
 * The argument checks every {@code DiskFile} makes alike: a null buffer or a negative, overflowing
 * or out-of-disk range is an {@link IllegalArgumentException} naming the image.
 */
public final class Arguments {
  private Arguments() {}

  /** {@code value}, or an IllegalArgumentException naming {@code what} when it is null. */
  public static <T> T notNull(String image, T value, String what) {
    if (value == null) {
      throw new IllegalArgumentException(image + ": " + what + " is null");
    }
    return value;
  }

  /** Refuses a negative position (a read may start at or past the end: it reads nothing). */
  public static void position(String image, long position) {
    if (position < 0) {
      throw new IllegalArgumentException(image + ": negative offset " + position);
    }
  }

  /** Refuses a range that is negative or does not lie within the {@code size} bytes of the disk. */
  public static void range(String image, long offset, long length, long size) {
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw new IllegalArgumentException(image + ": range at offset " + offset + " length " + length
          + " is outside the disk (" + size + " bytes)");
    }
  }

  /** As {@link #buffers(String, Object[])}, naming the image only when the check fails. */
  public static void buffers(Supplier<String> image, Object[] buffers) {
    if (buffers == null || Arrays.asList(buffers).contains(null)) {
      buffers(image.get(), buffers);
    }
  }

  /** As {@link #range(String, long, long, long)}, naming the image only when the check fails. */
  public static void range(Supplier<String> image, long offset, long length, long size) {
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      range(image.get(), offset, length, size);
    }
  }

  /** Each of {@code buffers} not null; the array itself not null. */
  public static void buffers(String image, Object[] buffers) {
    notNull(image, buffers, "buffer array");
    for (Object buffer : buffers) {
      notNull(image, buffer, "buffer");
    }
  }
}
