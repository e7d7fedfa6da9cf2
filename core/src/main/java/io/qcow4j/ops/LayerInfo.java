package io.qcow4j.ops;

import io.qcow4j.disk.ImageInfo;

/**
 * What qemu-img info prints for one image of a chain: the name it was opened by (as given, or the
 * full backing name of the image above), its {@link ImageInfo}, and the backing file name joined to
 * this image's directory ("full-backing-filename"), null without a backing file; and whether a
 * program without bitmap support invalidated its persistent bitmaps (QEMU warns at its open); and
 * the name of its top driver ("file format"): the format's, or a protocol's or filter's opened
 * without a format ("null-co", "blkdebug"); and whether its drivers answer QEMU's bdrv_get_info
 * ({@code driverInfo}: raw over an NBD export does not, and qemu-img prints no dirty flag for it).
 */
public record LayerInfo(String filename, ImageInfo info, String fullBackingFilename, boolean bitmapsInvalidated,
    String driver, boolean driverInfo) {
  /** A layer whose driver is its format's. */
  public LayerInfo(String filename, ImageInfo info, String fullBackingFilename, boolean bitmapsInvalidated) {
    this(filename, info, fullBackingFilename, bitmapsInvalidated, info.format().id());
  }

  /** A layer whose drivers answer bdrv_get_info. */
  public LayerInfo(String filename, ImageInfo info, String fullBackingFilename, boolean bitmapsInvalidated,
      String driver) {
    this(filename, info, fullBackingFilename, bitmapsInvalidated, driver, true);
  }
}
