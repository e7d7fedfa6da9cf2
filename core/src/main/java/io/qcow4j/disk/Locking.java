package io.qcow4j.disk;

/** Whether opening an image takes QEMU's image locks (QEMU's {@code file.locking}). */
public enum Locking {
  /** Locks taken; an open fails where the host cannot lock. */
  ON,
  /** No locks taken or tested: nothing protects the image from other processes. */
  OFF,
  /** Locks taken where the host can lock, silently skipped where it cannot. */
  AUTO;

  /** Parses QEMU's value ("on", "off", "auto"). */
  public static Locking parse(String value) {
    return switch (value) {
      case "on" -> ON;
      case "off" -> OFF;
      case "auto" -> AUTO;
      default -> throw new IllegalArgumentException(
          "Parameter 'locking' does not accept value '" + value + "' (on, off or auto)");
    };
  }
}
