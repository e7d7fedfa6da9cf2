package io.qcow4j.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * While a server runs, prints what the library logs (a request failing with EIO, a client lost) as
 * one line on stderr, "qcow4j: message: reason" (the program's name first), as qemu-nbd does; the
 * stack trace only with --debug. A corruption signalled by the request is announced first, as
 * qcow2_signal_corruption prints it on qemu-nbd's stderr.
 */
final class ServerLog extends Handler implements AutoCloseable {
  private static final Formatter MESSAGES = new SimpleFormatter();

  private final PrintWriter err;
  private final boolean debug;
  private final Logger root = LogManager.getLogManager().getLogger("");
  private final List<Handler> replaced;

  private ServerLog(PrintWriter err, boolean debug) {
    this.err = err;
    this.debug = debug;
    this.replaced = List.of(root.getHandlers());
    setLevel(Level.INFO);
  }

  /** Replaces the root logger's handlers (the JDK's two-line console format) until {@link #close}. */
  static ServerLog install(PrintWriter err, boolean debug) {
    ServerLog log = new ServerLog(err, debug);
    for (Handler handler : log.replaced) {
      log.root.removeHandler(handler);
    }
    log.root.addHandler(log);
    return log;
  }

  @Override
  public void publish(LogRecord record) {
    if (!isLoggable(record)) {
      return;
    }
    StringBuilder line = new StringBuilder(QemuErrors.PREFIX).append(Failures.oneLine(MESSAGES.formatMessage(record)));
    Throwable thrown = record.getThrown();
    if (thrown != null) {
      line.append(": ").append(Failures.reason(thrown, null));
    }
    String trace = null;
    if (debug && thrown != null) {
      StringWriter text = new StringWriter();
      thrown.printStackTrace(new PrintWriter(text));
      trace = text.toString();
    }
    synchronized (err) {
      if (thrown instanceof io.qcow4j.disk.CorruptImageException corrupt) {
        // qemu-nbd's stderr carries qcow2_signal_corruption's line when a request finds the image corrupt
        Failures.announceCorruption(corrupt, err);
      }
      err.println(line);
      if (trace != null) {
        err.print(trace);
      }
      err.flush();
    }
  }

  @Override
  public void flush() {
    err.flush();
  }

  /** Puts the handlers back that {@link #install} replaced. */
  @Override
  public void close() {
    root.removeHandler(this);
    for (Handler handler : replaced) {
      root.addHandler(handler);
    }
    flush();
  }
}
