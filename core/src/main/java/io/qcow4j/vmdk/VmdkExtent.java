package io.qcow4j.vmdk;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * One extent of a VMDK: {@link #sectors()} guest sectors from {@link #startSector()}, stored flat or
 * sparse in one host file. Offsets passed in are relative to the extent's first guest byte.
 */
sealed interface VmdkExtent permits FlatExtent, SparseExtent {

  /** What one guest offset of the extent maps to. */
  enum Kind { UNALLOCATED, ZERO, DATA, COMPRESSED }

  /**
   * The mapping of an extent offset: its kind, for DATA the host byte offset of that guest byte
   * (for COMPRESSED that of the grain's marker), and how many bytes from it share the mapping:
   * following grains of one grain table that map alike (DATA only when contiguous on the host; a
   * run of COMPRESSED grains, each read on its own), or the rest of a flat extent.
   */
  record Mapping(Kind kind, long hostOffset, long length) {}

  /** The first guest sector of the extent. */
  long startSector();

  /** The extent's size in sectors. */
  long sectors();

  /** The host file. */
  Storage storage();

  /** The host file's path, as the image was named (for map and info). */
  Path path();

  /** The descriptor's type of the extent (FLAT, SPARSE, VMFS, ...), null for a monolithic sparse file. */
  String type();

  /** Whether the extent is flat. */
  boolean flat();

  /** Whether its grains are compressed. */
  boolean compressed();

  /** The grain size in bytes; for a flat extent its whole size (QEMU's cluster_sectors). */
  long grainBytes();

  /** The mapping of {@code extentOffset}, which lies inside the extent. */
  Mapping map(long extentOffset) throws IOException;

  /** Reads a compressed grain's bytes into {@code dst} from {@code extentOffset}, within one grain. */
  default void readCompressed(ByteBuffer dst, long extentOffset) throws IOException {
    throw new IllegalStateException("extent has no compressed grains");
  }

  /** The extent's first guest byte. */
  default long startByte() {
    return startSector() << 9;
  }

  /** The extent's size in bytes. */
  default long byteSize() {
    return sectors() << 9;
  }
}
