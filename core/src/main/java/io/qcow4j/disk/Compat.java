package io.qcow4j.disk;

/** The qcow2 compatibility level of a new or amended image: version 2 ("0.10") or version 3 ("1.1"). */
public enum Compat {
  V2("0.10", 2),
  V3("1.1", 3);

  private final String id;
  private final int version;

  Compat(String id, int version) {
    this.id = id;
    this.version = version;
  }

  /** The name qemu-img's compat option and info print: "0.10" or "1.1". */
  public String id() {
    return id;
  }

  /** The header version this level writes: 2 or 3. */
  public int version() {
    return version;
  }

  /** The level of a header version (2, or 3 and above); null for anything else. */
  public static Compat ofVersion(int version) {
    return version == 2 ? V2 : version >= 3 ? V3 : null;
  }

  /** qemu-img's compat values: "0.10" or "v2", "1.1" or "v3"; null for anything else. */
  public static Compat fromName(String name) {
    return switch (name) {
      case "0.10", "v2" -> V2;
      case "1.1", "v3" -> V3;
      default -> null;
    };
  }
}
