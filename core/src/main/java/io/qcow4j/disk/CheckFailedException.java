package io.qcow4j.disk;

import java.util.List;

/**
 * A consistency check that could not run to its end, where qemu-img check prints no summary but
 * "Check failed: REASON" and exits with 1: the message names what stopped it (file, offset,
 * field), {@link #reason()} is the error text qemu-img gives (its strerror), and
 * {@link #messages()} the per-problem lines found before it stopped.
 */
public final class CheckFailedException extends ImageException {
  private static final long serialVersionUID = 1L;
  private final String reason;
  private final List<String> messages;

  /** A check stopped by what {@code message} describes, reported as {@code reason}. */
  public CheckFailedException(String message, String reason, List<String> messages) {
    super(message);
    this.reason = reason;
    this.messages = List.copyOf(messages);
  }

  /** qemu-img's text for the failure, as in "Check failed: Invalid argument". */
  public String reason() {
    return reason;
  }

  /** The lines the check printed before it stopped. */
  public List<String> messages() {
    return messages;
  }
}
