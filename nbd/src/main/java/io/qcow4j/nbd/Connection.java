package io.qcow4j.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/** One client, from the greeting to the close of its socket; runs on its own virtual thread. */
final class Connection implements Runnable {
  private static final System.Logger LOG = System.getLogger(Connection.class.getName());
  private static final int HANDSHAKE = 0;
  private static final int TRANSMISSION = 1;
  private static final int TIMED_OUT = 2;

  private final Wire wire;
  private final Export export;
  private final BufferPool buffers;
  private final String client;
  private final ScheduledExecutorService timer;
  private final Duration handshakeTimeout;
  private final Duration drainTimeout;
  private final BooleanSupplier shuttingDown;
  private final AtomicInteger phase = new AtomicInteger(HANDSHAKE);

  Connection(Wire wire, Export export, BufferPool buffers, String client, ScheduledExecutorService timer,
      Duration handshakeTimeout, Duration drainTimeout, BooleanSupplier shuttingDown) {
    this.wire = wire;
    this.export = export;
    this.buffers = buffers;
    this.client = client;
    this.timer = timer;
    this.handshakeTimeout = handshakeTimeout;
    this.drainTimeout = drainTimeout;
    this.shuttingDown = shuttingDown;
  }

  @Override
  public void run() {
    LOG.log(Level.DEBUG, "{0}: connected", client);
    ScheduledFuture<?> deadline = timer.schedule(this::handshakeExpired, handshakeTimeout.toNanos(),
        TimeUnit.NANOSECONDS);
    Transmission transmission = null;
    try {
      Optional<Negotiation.Session> session = new Negotiation(wire, export, shuttingDown).run();
      deadline.cancel(false);
      if (session.isEmpty() || !phase.compareAndSet(HANDSHAKE, TRANSMISSION)) {
        return;
      }
      transmission = new Transmission(wire, export, session.get(), buffers, client);
      transmission.run();
    } catch (EOFException e) {
      LOG.log(Level.DEBUG, "{0}: closed by the client{1}", client,
          phase.get() == TIMED_OUT ? " (handshake timed out)" : "");
    } catch (ProtocolException e) {
      LOG.log(Level.DEBUG, "{0}: dropped: {1}", client, e.getMessage());
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "{0}: connection lost: {1}{2}", client, e.toString(),
          phase.get() == TIMED_OUT ? " (handshake timed out)" : "");
    } finally {
      deadline.cancel(false);
      // Requests already read are served to the end, so that the disk never sees half a request.
      if (transmission != null && !transmission.awaitIdle(drainTimeout)) {
        LOG.log(Level.WARNING, "{0}: requests still running after {1}; closing anyway", client, drainTimeout);
      }
      wire.close();
      LOG.log(Level.DEBUG, "{0}: closed", client);
    }
  }

  /** Asks the connection to end: the reader sees end of stream, requests in flight still get answers. */
  void shutdown() {
    wire.shutdownInput();
  }

  /** Ends the connection at once: pending replies are lost. */
  void abort() {
    wire.close();
  }

  private void handshakeExpired() {
    if (phase.compareAndSet(HANDSHAKE, TIMED_OUT)) {
      LOG.log(Level.DEBUG, "{0}: handshake not finished within {1}", client, handshakeTimeout);
      wire.close();
    }
  }
}
