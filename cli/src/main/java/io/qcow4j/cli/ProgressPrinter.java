package io.qcow4j.cli;

import java.io.PrintWriter;
import java.util.Locale;

/** qemu-img's -p progress line, "    (42.00/100%)" redrawn in place, on stderr as the design asks. */
final class ProgressPrinter {
  private final PrintWriter err;
  private final boolean enabled;
  private double lastPercent = -1;

  ProgressPrinter(PrintWriter err, boolean enabled) {
    this.err = err;
    this.enabled = enabled;
  }

  /** Redraws the line when the percentage moved by at least one point (or reached 100). */
  void update(long done, long total) {
    if (!enabled) {
      return;
    }
    double percent = total <= 0 ? 100 : Math.min(100, 100.0 * done / total);
    if (lastPercent < 0 || percent - lastPercent >= 1 || (percent == 100 && lastPercent != 100)) {
      lastPercent = percent;
      err.print(String.format(Locale.ROOT, "    (%3.2f/100%%)\r", percent));
      err.flush();
    }
  }

  /** Starts the line at 0%. */
  void start() {
    update(0, 1);
  }

  /** Ends the line. */
  void finish() {
    if (enabled) {
      err.print('\n');
      err.flush();
    }
  }
}
