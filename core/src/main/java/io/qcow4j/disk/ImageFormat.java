package io.qcow4j.disk;

import java.util.Locale;

/** The image formats qcow4j reads and writes. */
public enum ImageFormat {
  RAW,
  QCOW2;

  /** The name qemu-img uses for this format ("raw", "qcow2"). */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses a qemu-img format name; throws {@link UnsupportedFeatureException} naming an unknown one. */
  public static ImageFormat parse(String name) throws UnsupportedFeatureException {
    for (ImageFormat format : values()) {
      if (format.id().equals(name)) {
        return format;
      }
    }
    throw new UnsupportedFeatureException("Unknown or unsupported image format '" + name + "' (supported: raw, qcow2)");
  }
}
