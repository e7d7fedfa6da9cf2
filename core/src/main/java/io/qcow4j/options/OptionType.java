package io.qcow4j.options;

/** The type of an option's value, as QemuOpts checks it; {@link #helpName} is what -o help shows. */
public enum OptionType {
  STRING("str"),
  BOOL("bool (on/off)"),
  NUMBER("num"),
  SIZE("size");

  private final String helpName;

  OptionType(String helpName) {
    this.helpName = helpName;
  }

  /** The name -o help shows between the angle brackets. */
  public String helpName() {
    return helpName;
  }
}
