package io.qcow4j.disk;

import java.util.Locale;

/** How much of a new image is allocated up front, as qemu-img's preallocation option. */
public enum Preallocation {
  OFF, METADATA, FALLOC, FULL;

  /** The option value qemu-img uses. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses qemu-img's option value; throws naming the value when unknown. */
  public static Preallocation parse(String value) throws UnsupportedFeatureException {
    for (Preallocation mode : values()) {
      if (mode.id().equals(value)) {
        return mode;
      }
    }
    throw new UnsupportedFeatureException("Invalid preallocation mode: '" + value + "' (off, metadata, falloc, full)");
  }
}
