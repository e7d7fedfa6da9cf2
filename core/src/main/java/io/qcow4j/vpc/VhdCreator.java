package io.qcow4j.vpc;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.storage.FirstBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.UUID;

/**
 * Makes a new fixed VHD as QEMU 7.2's vpc_co_create does: the virtual size rounded up to a sector
 * and then to the geometry (or, with {@code forceSize}, kept as given: creator "qem2" and the
 * largest geometry, which Azure and Hyper-V take), the data as a hole, the footer last.
 */
public final class VhdCreator {
  private static final long TIMESTAMP_BASE = 946684800L;

  private VhdCreator() {}

  /** The virtual size a new disk of {@code requestedSize} bytes gets. */
  public static long virtualSize(long requestedSize, boolean forceSize) throws ImageLimitException {
    long sectors = (requestedSize + 511) / 512;
    VhdGeometry geometry = forceSize ? VhdGeometry.MAX : VhdGeometry.covering(sectors);
    if (geometry.sectors() != VhdGeometry.MAX.sectors()) {
      return geometry.sectors() * 512;
    }
    if (sectors > VhdFooter.MAX_SECTORS) {
      // QEMU's message for a size over the vpc driver's 2040 GiB
      throw new ImageLimitException("The image size is too large for file format 'vpc'");
    }
    return sectors * 512;
  }

  /**
   * The footer of a new disk of {@code virtualSize} bytes (from {@link #virtualSize}) of
   * {@code diskType}, made at {@code now} with {@code uuid}.
   */
  public static byte[] footer(long virtualSize, boolean forceSize, long diskType, Instant now, UUID uuid) {
    VhdGeometry geometry = forceSize ? VhdGeometry.MAX : VhdGeometry.covering(virtualSize / 512);
    ByteBuffer footer = ByteBuffer.allocate(VhdFooter.SIZE);
    footer.put(0, "conectix".getBytes(StandardCharsets.US_ASCII));
    footer.putInt(8, 0x02);
    footer.putInt(12, 0x00010000);
    footer.putLong(16, diskType == VhdFooter.DYNAMIC ? 512 : -1L);
    footer.putInt(24, (int) (now.getEpochSecond() - TIMESTAMP_BASE));
    footer.put(28, (forceSize ? "qem2" : "qemu").getBytes(StandardCharsets.US_ASCII));
    footer.putShort(32, (short) 0x0005);
    footer.putShort(34, (short) 0x0003);
    footer.put(36, "Wi2k".getBytes(StandardCharsets.US_ASCII));
    footer.putLong(40, virtualSize);
    footer.putLong(48, virtualSize);
    footer.putShort(56, (short) geometry.cylinders());
    footer.put(58, (byte) geometry.heads());
    footer.put(59, (byte) geometry.sectorsPerTrack());
    footer.putInt(60, (int) diskType);
    footer.putLong(68, uuid.getMostSignificantBits());
    footer.putLong(76, uuid.getLeastSignificantBits());
    footer.putInt(64, (int) VhdFooter.checksum(footer.array(), 0, VhdFooter.SIZE, 64));
    return footer.array();
  }

  /**
   * Makes {@code storage} (empty) a fixed VHD of {@code requestedSize} bytes as qemu-img create
   * -f vpc -o subformat=fixed makes it; returns the virtual size.
   */
  public static long createFixed(Storage storage, long requestedSize, boolean forceSize) throws IOException {
    long virtualSize = virtualSize(requestedSize, forceSize);
    // create_fixed_disk grows the empty file (its first block written by the file protocol)
    FirstBlock.growEmpty(storage, virtualSize + VhdFooter.SIZE);
    storage.write(ByteBuffer.wrap(footer(virtualSize, forceSize, VhdFooter.FIXED, Instant.now(), UUID.randomUUID())),
        virtualSize);
    return virtualSize;
  }
}
