package io.qcow4j.disk;

/**
 * The image's metadata contradicts the format: the message names the file, the table and the offset.
 * A corruption found while changing the image marks it corrupt; the first such failure of an open
 * image carries the {@linkplain #markedCorrupt() corruption event} that QEMU prints at that moment.
 */
public final class CorruptImageException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** QEMU's text of the corruption event (qcow2_signal_corruption), or null. */
  private final String event;
  /** Whether this failure is the one that marked the image corrupt (later ones are not announced). */
  private final boolean markedCorrupt;

  /** A corruption described by {@code message}, which names the file and the offset. */
  public CorruptImageException(String message) {
    this(message, null, null, false);
  }

  /** A corruption described by {@code message}, found through {@code cause}. */
  public CorruptImageException(String message, Throwable cause) {
    this(message, cause, null, false);
  }

  private CorruptImageException(String message, Throwable cause, String event, boolean markedCorrupt) {
    super(message, cause);
    this.event = event;
    this.markedCorrupt = markedCorrupt;
  }

  /**
   * A corruption described by {@code message}, with {@code event}, QEMU's words for it (as
   * "Refblock offset 0x20600 unaligned (reftable index: 0x1)", without the file name).
   */
  public static CorruptImageException withEvent(String message, String event) {
    return new CorruptImageException(message, null, event, false);
  }

  /** QEMU's words for this corruption, without the file name; the message when there are none. */
  public String event() {
    if (event != null) {
      return event;
    }
    String message = getMessage();
    int separator = message == null ? -1 : message.indexOf(": ");
    return separator < 0 ? message : message.substring(separator + 2);
  }

  /** Whether QEMU's words for this corruption are known ({@link #withEvent}), not only the message. */
  public boolean hasEvent() {
    return event != null;
  }

  /** Whether this failure marked the image corrupt (the first of the open image; QEMU announces only that one). */
  public boolean markedCorrupt() {
    return markedCorrupt;
  }

  /** This failure as the one that marked the image corrupt. */
  public CorruptImageException asMarking() {
    CorruptImageException marking = new CorruptImageException(getMessage(), this, event, true);
    marking.setStackTrace(getStackTrace());
    return marking;
  }
}
