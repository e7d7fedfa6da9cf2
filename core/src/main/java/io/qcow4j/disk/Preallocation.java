package io.qcow4j.disk;

import java.util.Locale;

/** How much of a new image is allocated up front, as qemu-img's preallocation option. */
public enum Preallocation {
  OFF, METADATA, FALLOC, FULL;

  /** The option value qemu-img uses. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The mode of that name ("off", "metadata", "falloc", "full"); null for anything else. */
  public static Preallocation fromName(String name) {
    for (Preallocation mode : values()) {
      if (mode.id().equals(name)) {
        return mode;
      }
    }
    return null;
  }
}
