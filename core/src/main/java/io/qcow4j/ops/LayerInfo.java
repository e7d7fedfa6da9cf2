package io.qcow4j.ops;

import io.qcow4j.disk.ImageInfo;

/**
 * What qemu-img info prints for one image of a chain: the name it was opened by (as given, or the
 * full backing name of the image above), its {@link ImageInfo}, and the backing file name joined to
 * this image's directory ("full-backing-filename"), null without a backing file; and whether a
 * program without bitmap support invalidated its persistent bitmaps (QEMU warns at its open).
 */
public record LayerInfo(String filename, ImageInfo info, String fullBackingFilename, boolean bitmapsInvalidated) {}
