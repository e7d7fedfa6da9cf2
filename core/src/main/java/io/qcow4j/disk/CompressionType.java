package io.qcow4j.disk;

import java.util.Locale;

/** How a qcow2 image compresses clusters: deflate (zlib), or zstd, which needs compat 1.1. */
public enum CompressionType {
  ZLIB,
  ZSTD;

  /** The name qemu-img's compression_type option uses: "zlib" or "zstd". */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The type of that name; null for anything else. */
  public static CompressionType fromName(String name) {
    for (CompressionType type : values()) {
      if (type.id().equals(name)) {
        return type;
      }
    }
    return null;
  }
}
