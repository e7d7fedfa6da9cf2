package io.qcow4j.cli;

import java.io.PrintWriter;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * The -p progress line on stderr, redrawn in place: qemu-img's "(42.00/100%)", then the throughput
 * and the time left. It draws only when stderr is a terminal (the system property
 * {@code qcow4j.progress.always} draws it anyway, for tests), and never with -q.
 */
final class ProgressPrinter {
  private static final int STDERR = 2;

  private final PrintWriter err;
  private final boolean enabled;
  private final long startNanos = System.nanoTime();
  private double lastPercent = -1;

  ProgressPrinter(PrintWriter err, boolean requested) {
    this.err = err;
    this.enabled = requested && (Boolean.getBoolean("qcow4j.progress.always") || stderrIsTerminal());
  }

  /** Redraws the line when the percentage moved by at least one point (or reached 100). */
  void update(long done, long total) {
    if (!enabled) {
      return;
    }
    double percent = total <= 0 ? 100 : Math.min(100, 100.0 * done / total);
    if (lastPercent < 0 || percent - lastPercent >= 1 || (percent == 100 && lastPercent != 100)) {
      lastPercent = percent;
      double seconds = Math.max(1e-3, (System.nanoTime() - startNanos) / 1e9);
      double bytesPerSecond = done / seconds;
      String rate = done == 0 ? "" : String.format(Locale.ROOT, " %s/s", QemuNumbers.humanSize((long) bytesPerSecond));
      String left = done == 0 || done >= total ? "" : ", " + duration((total - done) / bytesPerSecond) + " left";
      err.print(String.format(Locale.ROOT, "    (%3.2f/100%%)%s%s\u001b[K\r", percent, rate, left));
      err.flush();
    }
  }

  /** Starts the line at 0%. */
  void start() {
    update(0, 1);
  }

  /** Ends the line, if one was drawn. */
  void finish() {
    if (enabled && lastPercent >= 0) {
      err.print('\n');
      err.flush();
    }
  }

  private static String duration(double seconds) {
    long whole = (long) Math.ceil(seconds);
    return whole >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
        : String.format(Locale.ROOT, "%d:%02d", whole / 60, whole % 60);
  }

  /** isatty(2) through the FFM API; false where it cannot be asked. */
  private static boolean stderrIsTerminal() {
    try {
      Linker linker = Linker.nativeLinker();
      MethodHandle isatty = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
      return (int) isatty.invokeExact(STDERR) == 1;
    } catch (Throwable e) {
      return false;
    }
  }
}
