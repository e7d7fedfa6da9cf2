package io.qcow4j.disk;

import java.nio.file.Path;

/**
 * The allocation status of one guest range, as qemu-img map reports it: {@code depth} is the
 * chain layer that decides the content (0 is the image itself), {@code present} whether some
 * layer allocates it (data or zero flag), {@code zero} whether it reads as zeros, {@code data}
 * whether host data backs it, and {@code hostOffset} (or -1) where, in {@code file}.
 */
public record Extent(
    long start,
    long length,
    int depth,
    boolean present,
    boolean zero,
    boolean data,
    boolean compressed,
    long hostOffset,
    Path file) {

  /** The guest offset just past this extent. */
  public long end() {
    return start + length;
  }

  /** This extent moved one layer deeper in a chain, as seen from the overlay above it. */
  public Extent deeper() {
    return new Extent(start, length, depth + 1, present, zero, data, compressed, hostOffset, file);
  }

  /** This extent cut to {@code newLength} bytes from its start. */
  public Extent withLength(long newLength) {
    return new Extent(start, newLength, depth, present, zero, data, compressed, hostOffset, file);
  }
}
