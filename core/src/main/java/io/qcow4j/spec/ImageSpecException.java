package io.qcow4j.spec;

import java.io.IOException;
import java.util.List;

/**
 * An image spec that cannot be opened as written: a malformed option string or JSON, an unknown
 * option, a value of the wrong type, options that contradict each other or the image. The
 * message is QEMU's for the same mistake, without the "Could not open 'NAME': " in front, which
 * the tool adds unless {@link #standalone()}.
 */
public final class ImageSpecException extends IOException {
  private static final long serialVersionUID = 1L;
  private final boolean standalone;
  private final List<String> warnings;

  /** A spec refused with QEMU's {@code message}. */
  public ImageSpecException(String message) {
    this(message, false, List.of());
  }

  private ImageSpecException(String message, boolean standalone, List<String> warnings) {
    super(message);
    this.standalone = standalone;
    this.warnings = List.copyOf(warnings);
  }

  /** A failure QEMU reports on its own line, before it tries to open anything (a malformed id). */
  static ImageSpecException standalone(String message) {
    return new ImageSpecException(message, true, List.of());
  }

  /** The same failure with the warnings QEMU printed while it read the spec, before it failed. */
  ImageSpecException withWarnings(List<String> value) {
    return new ImageSpecException(getMessage(), standalone, value);
  }

  /** QEMU's warnings about the spec (short-form booleans), printed before the failure. */
  public List<String> warnings() {
    return warnings;
  }

  /** Whether the message stands alone rather than after "Could not open 'NAME': ". */
  public boolean standalone() {
    return standalone;
  }

  /** The same failure with {@code prefix} in front of the message (as "Could not open backing file: "). */
  public ImageSpecException prefixed(String prefix) {
    return new ImageSpecException(prefix + getMessage(), standalone, warnings);
  }
}
