package io.qcow4j.cli;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;

/**
 * qemu-img's progress report, as QEMU 7.2's util/qemu-progress.c makes it, for the commands that
 * take -p (convert, compare, commit, rebase, amend).
 *
 * <p>With -p (and without -q) each report is a line {@code "    (NN.NN/100%)\r"} on stdout,
 * redrawn in place, and {@link #end} writes the final newline. A report is printed only when the
 * value moved past the last one printed by more than the command's minimum step (1 for convert,
 * commit and amend, 2 for compare and rebase), or is exactly 0 or 100; the values are C floats, so
 * they are floats here too, and printed as glibc's {@code %3.2f} prints them (the exact binary
 * value, ties to even: 3.125 is "3.12"). Without -p, a SIGUSR1 asks for one report: it goes to
 * stderr as {@code "    (NN.NN/100%)\n"} at the next point where a report would have been printed.
 *
 * <p>Relative reports ({@link #print(float, int)}) come from one thread; absolute ones
 * ({@link #printValue(float)}) may come from many at once, and take a lock only when they print.
 */
final class ProgressPrinter {
  /** The printer SIGUSR1 asks for a report, if any. */
  private static volatile ProgressPrinter signalTarget;
  private static volatile boolean signalHandled;

  private final PrintWriter out;
  private final PrintWriter err;
  private final boolean enabled;
  private final float minSkip;
  private final Object printLock = new Object();
  /** qemu's state.current: guarded by printLock. */
  private float current;
  /** qemu's state.last_print: written under printLock, read without it to skip the lock. */
  private volatile float lastPrint;
  private volatile boolean signalPending;

  private ProgressPrinter(PrintWriter out, PrintWriter err, boolean enabled, float minSkip) {
    this.out = out;
    this.err = err;
    this.enabled = enabled;
    this.minSkip = minSkip;
  }

  /**
   * qemu_progress_init: reports on {@code out} when {@code enabled} (-p without -q), else only on
   * SIGUSR1, on {@code err}; {@code minSkip} is the command's minimum step.
   */
  static ProgressPrinter start(PrintWriter out, PrintWriter err, boolean enabled, float minSkip) {
    ProgressPrinter printer = new ProgressPrinter(out, err, enabled, minSkip);
    signalTarget = printer;
    SignalRequests.installInBackground();
    return printer;
  }

  /**
   * qemu_progress_print: with {@code max} 0, {@code delta} is the value itself; else the value
   * grows by {@code delta} percent of {@code max}. Single-threaded callers.
   */
  void print(float delta, int max) {
    synchronized (printLock) {
      float value = max == 0 ? delta : current + delta / 100 * max;
      update(value);
    }
  }

  /**
   * An absolute report that may come from several threads at once: a value below one already
   * taken (a thread that counted earlier but arrived later) is dropped, so the printed values only
   * grow. No lock unless the value is to be printed.
   */
  void printValue(float value) {
    if (!(value > lastPrint + minSkip || value >= 100 || value == 0)) {
      return;
    }
    synchronized (printLock) {
      if (value < current) {
        return;
      }
      update(value);
    }
  }

  /** The value convert reports: qemu-img's {@code 100.0 * allocated_done / allocated_sectors}. */
  static float convertValue(long done, long total) {
    return (float) (100.0 * done / total);
  }

  /** What SIGUSR1 does: asks for one report on stderr at the next point where one would be printed. */
  void requestReport() {
    signalPending = true;
  }

  /** qemu_progress_end: the newline after the last report, with -p. */
  void end() {
    if (enabled) {
      out.print('\n');
      out.flush();
    }
    if (signalTarget == this) {
      signalTarget = null;
    }
  }

  private void update(float value) {
    if (value > 100) {
      value = 100;
    }
    current = value;
    // qemu_progress_print prints a step back too (amend's projected total can grow)
    if (value > lastPrint + minSkip || value < lastPrint - minSkip || value == 100 || value == 0) {
      lastPrint = value;
      emit(value);
    }
  }

  private void emit(float value) {
    if (enabled) {
      out.print("    (" + format(value) + "/100%)\r");
      out.flush();
    } else if (signalPending) {
      signalPending = false;
      err.print("    (" + format(value) + "/100%)\n");
      err.flush();
    }
  }

  /** C's {@code printf("%3.2f", value)} of a float: two decimals of the exact value, ties to even. */
  static String format(float value) {
    return QemuNumbers.fixed(value, 2);
  }

  /**
   * SIGUSR1 through the JDK's sun.misc.Signal (module jdk.unsupported), installed once per process;
   * reached by reflection, as javac warns about every direct use of it.
   */
  private static final class SignalRequests {
    private SignalRequests() {}

    /**
     * Installs the handler on a thread of its own: the proxy it takes is a class spun at run time
     * (20-70 ms of a loaded machine's start-up of convert, before its first byte), which the
     * command need not wait for; a SIGUSR1 in those milliseconds ends the process, as one does
     * before the JVM has started.
     */
    static void installInBackground() {
      if (!signalHandled) {
        Thread.ofPlatform().daemon().name("qcow4j-signals").start(SignalRequests::install);
      }
    }

    static synchronized void install() {
      if (signalHandled) {
        return;
      }
      signalHandled = true;
      try {
        Class<?> signalClass = Class.forName("sun.misc.Signal");
        Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
        InvocationHandler onSignal = (proxy, method, arguments) -> switch (method.getName()) {
          case "handle" -> {
            ProgressPrinter target = signalTarget;
            if (target != null) {
              target.requestReport();
            }
            yield null;
          }
          case "equals" -> proxy == arguments[0];
          case "hashCode" -> System.identityHashCode(proxy);
          default -> "progress report on SIGUSR1";
        };
        Object handler = Proxy.newProxyInstance(ProgressPrinter.class.getClassLoader(), new Class<?>[] {handlerClass},
            onSignal);
        Object usr1 = signalClass.getConstructor(String.class).newInstance("USR1");
        signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, usr1, handler);
      } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
        // no sun.misc.Signal, or the VM keeps SIGUSR1 for itself: no report on request
      }
    }
  }
}
