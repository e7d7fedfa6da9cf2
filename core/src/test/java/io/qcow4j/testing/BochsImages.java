package io.qcow4j.testing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

/**
 * Bochs growing redologs built from the format's description (bochs' redolog.h, as QEMU's
 * block/bochs.c reads it): a 512-byte header, the catalog of extent numbers (0xffffffff for none),
 * then each allocated extent as its sector bitmap followed by its data; qemu-img cannot create
 * them. {@link #expected()} is the disk those bytes hold.
 */
public final class BochsImages {
  /** The header's field values; a test changes them to make a hostile header. */
  public String magic = "Bochs Virtual HD Image";
  public String type = "Redolog";
  public String subtype = "Growing";
  public int version = 0x00020000;
  public int headerSize = 512;
  public int catalogEntries;
  public int bitmapSize;
  public int extentSize;
  public long diskSize;

  private final int[] catalog;
  private byte[][] extents = new byte[0][];
  private int allocated;
  private final byte[] expected;

  /** A disk of {@code diskSize} bytes cut into extents of {@code extentSize}, none allocated. */
  public BochsImages(long diskSize, int extentSize) {
    this.diskSize = diskSize;
    this.extentSize = extentSize;
    this.bitmapSize = Math.max(512, extentSize / 512 / 8);
    this.catalogEntries = (int) ((diskSize + extentSize - 1) / extentSize);
    this.catalog = new int[catalogEntries];
    Arrays.fill(catalog, -1);
    this.expected = new byte[(int) (diskSize / 512 * 512)];
  }

  /**
   * Writes {@code sectors} sectors of random bytes (from {@code seed}) at disk sector
   * {@code firstSector}, which must lie in one extent; the extent is allocated, in file order, on first use.
   */
  public BochsImages write(long firstSector, int sectors, long seed) {
    int sectorsPerExtent = extentSize / 512;
    int extentIndex = (int) (firstSector / sectorsPerExtent);
    int inExtent = (int) (firstSector % sectorsPerExtent);
    if (inExtent + sectors > sectorsPerExtent) {
      throw new IllegalArgumentException("the sectors must lie in one extent");
    }
    if (catalog[extentIndex] == -1) {
      catalog[extentIndex] = allocated++;
      extents = Arrays.copyOf(extents, allocated);
      extents[allocated - 1] = new byte[bitmapSectors() * 512 + extentSize];
    }
    byte[] extent = extents[catalog[extentIndex]];
    byte[] data = new byte[sectors * 512];
    new Random(seed).nextBytes(data);
    for (int i = 0; i < sectors; i++) {
      int sector = inExtent + i;
      extent[sector / 8] |= (byte) (1 << (sector % 8));
    }
    System.arraycopy(data, 0, extent, bitmapSectors() * 512 + inExtent * 512, data.length);
    System.arraycopy(data, 0, expected, (int) (firstSector * 512), data.length);
    return this;
  }

  /**
   * Writes garbage into the data of sectors of an allocated extent whose bitmap bits stay clear:
   * they must still read as zeros.
   */
  public BochsImages garbageBehindClearBits(long firstSector, int sectors) {
    int sectorsPerExtent = extentSize / 512;
    int extentIndex = (int) (firstSector / sectorsPerExtent);
    byte[] extent = extents[catalog[extentIndex]];
    int inExtent = (int) (firstSector % sectorsPerExtent);
    Arrays.fill(extent, bitmapSectors() * 512 + inExtent * 512, bitmapSectors() * 512 + (inExtent + sectors) * 512,
        (byte) 0xee);
    return this;
  }

  private int bitmapSectors() {
    return 1 + (bitmapSize - 1) / 512;
  }

  /** The disk the image holds. */
  public byte[] expected() {
    return expected.clone();
  }

  /** The image file's bytes. */
  public byte[] bytes() {
    int catalogBytes = catalog.length * 4;
    // the layout the extents were written with, whatever the header fields now say
    int extentBytes = allocated == 0 ? 0 : extents[0].length;
    ByteBuffer image = ByteBuffer.allocate(headerSize + catalogBytes + allocated * extentBytes)
        .order(ByteOrder.LITTLE_ENDIAN);
    text(image, 0, magic, 32);
    text(image, 32, type, 16);
    text(image, 48, subtype, 16);
    image.putInt(64, version).putInt(68, headerSize).putInt(72, catalogEntries).putInt(76, bitmapSize)
        .putInt(80, extentSize);
    image.putLong(version == 0x00010000 ? 84 : 88, diskSize);
    for (int i = 0; i < catalog.length; i++) {
      image.putInt(headerSize + i * 4, catalog[i]);
    }
    for (int i = 0; i < allocated; i++) {
      image.put(headerSize + catalogBytes + i * extentBytes, extents[i]);
    }
    return image.array();
  }

  private static void text(ByteBuffer image, int offset, String text, int field) {
    byte[] bytes = text.getBytes(StandardCharsets.ISO_8859_1);
    image.put(offset, bytes, 0, Math.min(bytes.length, field));
  }
}
