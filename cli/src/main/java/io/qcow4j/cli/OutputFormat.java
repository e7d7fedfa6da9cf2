package io.qcow4j.cli;

/** qemu-img's --output values. */
enum OutputFormat {
  HUMAN,
  JSON;

  /** Parses --output's value; qemu-img accepts exactly "human" and "json". */
  static OutputFormat parse(String value) {
    return switch (value) {
      case "human" -> HUMAN;
      case "json" -> JSON;
      default -> throw new CommandFailure("--output must be used with human or json as argument.", 1);
    };
  }
}
