package io.qcow4j.nbd;

import io.qcow4j.disk.DiskFile;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.URLEncoder;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NBD server exporting one {@link DiskFile} over TCP or a Unix socket, as qemu-nbd does: fixed
 * newstyle handshake, structured replies, {@code base:allocation} block status, and requests served
 * concurrently on virtual threads.
 *
 * <pre>{@code
 * try (NbdServer server = NbdServer.builder().disk(disk).unixSocket(socket).start()) {
 *   server.awaitTermination();
 * }
 * }</pre>
 */
public final class NbdServer implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(NbdServer.class.getName());
  /** The IANA port of NBD, qemu-nbd's default. */
  public static final int DEFAULT_PORT = 10809;
  /** How long a disconnect waits for the requests already read to be answered. */
  static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(30);
  private static final long ACCEPT_POLL_MILLIS = 100;
  /**
   * Connections the kernel queues before the server accepts them, as SOMAXCONN (Linux caps it at
   * net.core.somaxconn): with Java's default of 50, a burst of clients, or clients waiting for a
   * --shared slot, were refused (EAGAIN on a Unix socket) or stalled in SYN retransmits.
   */
  static final int LISTEN_BACKLOG = 4096;
  /**
   * The send buffer asked for on a Unix socket (the kernel doubles it, capped by
   * net.core.wmem_max): room for a whole 1 MiB read reply, so that it goes out in one write rather
   * than in five pieces of the default 208 KiB, each a wait for the client (bench/RESULTS.md:
   * a third of the server's CPU time in fio's 1 MiB reads). TCP tunes its own buffers.
   */
  static final int UNIX_SEND_BUFFER = 2 << 20;

  private final Export export;
  private final ServerSocketChannel listener;
  private final SocketAddress address;
  private final Path socketPath;
  private final Runnable afterListenerClose;
  private final int maxClients;
  private final boolean persistent;
  private final boolean closeDiskOnStop;
  private final Duration handshakeTimeout;
  private final Semaphore slots;
  private final ScheduledExecutorService timer;
  /**
   * The payload buffers of every connection, lent and kept: their bytes are a budget the
   * connections share, within the launcher's direct memory (bin/qcow4j: 128 MiB for serve).
   */
  static final long BUFFER_BYTES = 96L << 20;
  private final BufferPool buffers = new BufferPool(BUFFER_BYTES);
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private final InFlight clients = new InFlight();
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicLong connectionIds = new AtomicLong();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final Object closeLock = new Object();
  private volatile boolean stopping;
  private boolean closeStarted;
  private IOException closeFailure;
  private Thread acceptor;
  private Thread shutdownHook;

  private NbdServer(Builder builder, Export export, ServerSocketChannel listener, Path socketPath)
      throws IOException {
    this.export = export;
    this.listener = listener;
    // a Unix socket was bound under a temporary name and renamed (Builder.bindUnix)
    this.address = socketPath != null ? UnixDomainSocketAddress.of(socketPath) : listener.getLocalAddress();
    this.socketPath = socketPath;
    this.afterListenerClose = builder.afterListenerClose;
    this.maxClients = builder.maxClients;
    this.persistent = builder.persistent;
    this.closeDiskOnStop = builder.closeDiskOnStop;
    this.handshakeTimeout = builder.handshakeTimeout;
    this.slots = new Semaphore(maxClients == 0 ? Integer.MAX_VALUE : maxClients);
    this.timer = Executors.newSingleThreadScheduledExecutor(task -> {
      Thread thread = new Thread(task, "nbd-handshake-timer");
      thread.setDaemon(true);
      return thread;
    });
  }

  /** A builder with qemu-nbd's defaults, except that it listens on 127.0.0.1 only. */
  public static Builder builder() {
    return new Builder();
  }

  /** The address the server listens on: an {@link InetSocketAddress} with the real port, or a {@link UnixDomainSocketAddress}. */
  public SocketAddress address() {
    return address;
  }

  /** The TCP port the server listens on, or -1 on a Unix socket. */
  public int port() {
    return address instanceof InetSocketAddress inet ? inet.getPort() : -1;
  }

  /** The export's NBD URI, as nbdinfo, nbdcopy and qemu take it. */
  public String uri() {
    String name = URLEncoder.encode(export.name(), StandardCharsets.UTF_8).replace("+", "%20");
    if (address instanceof InetSocketAddress inet) {
      String host = inet.getAddress().getHostAddress();
      if (host.contains(":")) {
        host = "[" + host + "]";
      }
      return "nbd://" + host + ":" + inet.getPort() + "/" + name;
    }
    return "nbd+unix:///" + name + "?socket=" + ((UnixDomainSocketAddress) address).getPath();
  }

  /** The transmission flags a client gets (package-private, for tests). */
  int exportFlags(boolean structuredReplies) {
    return export.transmissionFlags(structuredReplies);
  }

  /** The number of clients connected now. */
  public int clientCount() {
    return active.get();
  }

  /** Whether the server still accepts clients. */
  public boolean isRunning() {
    return !stopping;
  }

  /** Blocks until the server has stopped (closed, or its last client left when not persistent). */
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /** Blocks until the server has stopped or the timeout passes; returns whether it stopped. */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * Stops the server: no new clients, connected ones see their requests in flight answered and are
   * then disconnected, the disk is flushed to stable storage (and closed if the builder said so).
   */
  @Override
  public void close() throws IOException {
    boolean running;
    synchronized (closeLock) {
      running = closeStarted;
      closeStarted = true;
    }
    if (running) {
      // Waits outside the lock, which the running close takes to finish: a shutdown hook that
      // waited inside it while the close begun by the last client's leaving flushed never returned.
      awaitTerminatedQuietly();
      synchronized (closeLock) {
        if (closeFailure != null) {
          throw closeFailure;
        }
      }
      return;
    }
    IOException failure = null;
    try {
      stop();
    } catch (IOException e) {
      failure = e;
    } finally {
      synchronized (closeLock) {
        closeFailure = failure;
      }
      terminated.countDown();
      removeShutdownHook();
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void stop() throws IOException {
    stopping = true;
    IOException failure = null;
    try {
      listener.close();
    } catch (IOException e) {
      failure = e;
    }
    if (afterListenerClose != null) {
      afterListenerClose.run();
    }
    if (socketPath != null) {
      try {
        Files.deleteIfExists(socketPath);
      } catch (IOException e) {
        failure = addTo(failure, e);
      }
    }
    joinQuietly(acceptor);
    for (Connection connection : connections) {
      connection.shutdown();
    }
    if (!clients.awaitIdle(DRAIN_TIMEOUT.plusSeconds(1))) {
      LOG.log(Level.WARNING, "clients still connected after {0}; disconnecting them", DRAIN_TIMEOUT);
      for (Connection connection : connections) {
        connection.abort();
      }
      clients.awaitIdle(Duration.ofSeconds(5));
    }
    timer.shutdown();
    try {
      if (!export.readOnly()) {
        export.disk().force(false);
      }
    } catch (IOException e) {
      failure = addTo(failure, e);
    }
    if (closeDiskOnStop) {
      try {
        export.disk().close();
      } catch (IOException e) {
        failure = addTo(failure, e);
      }
    }
    LOG.log(Level.DEBUG, "stopped serving {0}", address);
    if (failure != null) {
      throw failure;
    }
  }

  private static IOException addTo(IOException failure, IOException next) {
    if (failure == null) {
      return next;
    }
    failure.addSuppressed(next);
    return failure;
  }

  private void awaitTerminatedQuietly() {
    boolean interrupted = false;
    while (true) {
      try {
        terminated.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private static void joinQuietly(Thread thread) {
    if (thread == null || thread == Thread.currentThread()) {
      return;
    }
    try {
      thread.join(Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void start(boolean stopOnShutdown) {
    acceptor = Thread.ofVirtual().name("nbd-accept").start(this::acceptLoop);
    if (stopOnShutdown) {
      shutdownHook = new Thread(() -> {
        try {
          close();
        } catch (IOException e) {
          LOG.log(Level.ERROR, "stopping the NBD server at exit failed", e);
        }
      }, "nbd-shutdown");
      Runtime.getRuntime().addShutdownHook(shutdownHook);
    }
    LOG.log(Level.DEBUG, "serving {0} at {1}", export.disk().files(), address);
  }

  private void removeShutdownHook() {
    if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException e) {
        // The JVM is already exiting; the hook found the server closed.
      }
    }
  }

  private void acceptLoop() {
    while (!stopping) {
      try {
        if (!slots.tryAcquire(ACCEPT_POLL_MILLIS, TimeUnit.MILLISECONDS)) {
          continue;
        }
      } catch (InterruptedException e) {
        return;
      }
      SocketChannel channel;
      try {
        channel = listener.accept();
      } catch (IOException e) {
        slots.release();
        if (stopping || !listener.isOpen()) {
          return;
        }
        LOG.log(Level.WARNING, "accept failed on " + address, e);
        pause();
        continue;
      }
      if (stopping) {
        closeQuietly(channel);
        slots.release();
        return;
      }
      serve(channel);
    }
  }

  private void serve(SocketChannel channel) {
    long id = connectionIds.incrementAndGet();
    String client;
    try {
      if (address instanceof InetSocketAddress) {
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        client = "client " + id + " (" + channel.getRemoteAddress() + ")";
      } else {
        client = "client " + id;
        channel.setOption(StandardSocketOptions.SO_SNDBUF, UNIX_SEND_BUFFER);
      }
    } catch (IOException e) {
      closeQuietly(channel);
      slots.release();
      return;
    }
    Connection connection = new Connection(new Wire(channel), export, buffers, client, timer, handshakeTimeout,
        DRAIN_TIMEOUT, () -> stopping);
    connections.add(connection);
    active.incrementAndGet();
    clients.begin();
    // The reader of each connection is a platform thread: it blocks in the socket's read itself,
    // where a virtual one parks and is woken by the poller for every piece of a large write's
    // payload (bench/RESULTS.md: 20-35% less CPU for fio's 1 MiB writes). Requests still run on
    // virtual threads; a platform thread per client, as qemu-nbd has a coroutine per client.
    Thread.ofPlatform().daemon().name("nbd-client-" + id).start(() -> {
      try {
        connection.run();
      } finally {
        connections.remove(connection);
        slots.release();
        int left = active.decrementAndGet();
        clients.end();
        if (left == 0 && !persistent && !stopping) {
          // Like qemu-nbd without -t: the server ends when its last client leaves.
          Thread.ofVirtual().name("nbd-stop").start(this::closeLogged);
        }
      }
    });
  }

  private void closeLogged() {
    try {
      close();
    } catch (IOException e) {
      LOG.log(Level.ERROR, "stopping the NBD server failed", e);
    }
  }

  private static void pause() {
    try {
      Thread.sleep(ACCEPT_POLL_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // Nothing to release.
    }
  }

  /** The dirty ranges of one bitmap over a guest range, as {@code QcowFile.dirtyRanges} gives them. */
  @FunctionalInterface
  public interface DirtyRanges {
    /** The dirty ranges within {@code [offset, offset + length)}, in order. */
    java.util.List<io.qcow4j.disk.DirtyRange> dirtyRanges(long offset, long length) throws IOException;
  }

  /** A dirty bitmap exported as the metadata context qemu:dirty-bitmap:NAME. */
  public record ExportedBitmap(String name, DirtyRanges ranges) {
    /** Checks the name against the protocol's string limit. */
    public ExportedBitmap {
      Objects.requireNonNull(ranges, "ranges");
      Builder.checkString(Protocol.DIRTY_BITMAP_PREFIX + Objects.requireNonNull(name, "name"), "bitmap context name");
    }
  }

  /** Configures and starts an {@link NbdServer}. */
  public static final class Builder {
    private DiskFile disk;
    private String exportName = "";
    private String description;
    private boolean readOnly;
    private InetSocketAddress tcpAddress = new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT);
    private Path unixSocket;
    private ServerSocketChannel listening;
    private Runnable afterListenerClose;
    private int maxClients;
    private boolean persistent = true;
    private boolean closeDiskOnStop;
    private boolean stopOnShutdown;
    private Duration handshakeTimeout = Duration.ofSeconds(10);
    private boolean unmap = true;
    private boolean allocationDepth;
    private final java.util.List<ExportedBitmap> bitmaps = new java.util.ArrayList<>();

    private Builder() {}

    /** Exports the qemu:allocation-depth metadata context (qemu-nbd's -A; default false). */
    public Builder allocationDepth(boolean value) {
      allocationDepth = value;
      return this;
    }

    /** Exports a dirty bitmap as qemu:dirty-bitmap:NAME (qemu-nbd's -B); contexts keep the order of these calls. */
    public Builder dirtyBitmap(ExportedBitmap value) {
      bitmaps.add(Objects.requireNonNull(value, "bitmap"));
      return this;
    }

    /** The disk to export (required); the server never closes it unless {@link #closeDiskOnStop} says so. */
    public Builder disk(DiskFile value) {
      disk = Objects.requireNonNull(value, "disk");
      return this;
    }

    /** The export name (default empty); clients asking for the empty name get it too. */
    public Builder exportName(String value) {
      exportName = checkString(Objects.requireNonNull(value, "exportName"), "export name");
      return this;
    }

    /** A description for NBD_INFO_DESCRIPTION and NBD_OPT_LIST (default none). */
    public Builder description(String value) {
      description = value == null ? null : checkString(value, "description");
      return this;
    }

    /** Refuses writes (default false; a read-only disk is always exported read-only). */
    public Builder readOnly(boolean value) {
      readOnly = value;
      return this;
    }

    /** Listens on TCP at {@code host} and {@code port} (default 127.0.0.1 and 10809; port 0 picks a free one). */
    public Builder tcp(String host, int port) throws IOException {
      return tcp(new InetSocketAddress(InetAddress.getByName(host), port));
    }

    /** Listens on TCP at {@code value}. */
    public Builder tcp(InetSocketAddress value) {
      tcpAddress = Objects.requireNonNull(value, "address");
      unixSocket = null;
      return this;
    }

    /** Listens on a Unix socket at {@code path} instead of TCP; the socket file is removed on close. */
    public Builder unixSocket(Path path) {
      unixSocket = Objects.requireNonNull(path, "path");
      return this;
    }

    /**
     * Accepts on a socket that already listens (TCP or Unix), as qemu-nbd does on the one socket
     * activation hands it, instead of binding one: the server closes it when it stops, and never
     * removes its file.
     */
    public Builder listening(ServerSocketChannel channel) {
      return listening(channel, null);
    }

    /**
     * {@link #listening(ServerSocketChannel)}, and {@code afterClose} (if not null) runs as soon as
     * the server has closed the channel: the channel {@link System#inheritedChannel()} gives puts
     * /dev/null on the standard streams as it closes, which a caller can put back there.
     */
    public Builder listening(ServerSocketChannel channel, Runnable afterClose) {
      listening = Objects.requireNonNull(channel, "channel");
      afterListenerClose = afterClose;
      return this;
    }

    /** How many clients may be connected at once; 0 (the default) for no limit. More wait in the backlog. */
    public Builder maxClients(int value) {
      if (value < 0) {
        throw new IllegalArgumentException("maxClients must be >= 0: " + value);
      }
      maxClients = value;
      return this;
    }

    /** Whether to keep serving after the last client leaves (default true; qemu-nbd's -t). */
    public Builder persistent(boolean value) {
      persistent = value;
      return this;
    }

    /** Closes the disk after the server stops (default false). */
    public Builder closeDiskOnStop(boolean value) {
      closeDiskOnStop = value;
      return this;
    }

    /** Stops the server, flushing the disk, when the JVM exits (SIGTERM, SIGINT, System.exit). */
    public Builder stopOnShutdown(boolean value) {
      stopOnShutdown = value;
      return this;
    }

    /**
     * Whether TRIM frees space and a write of zeroes without NO_HOLE may unmap it (default true,
     * qemu-nbd's --discard=unmap); false: TRIM succeeds and changes nothing and zeroes keep their
     * clusters, as qemu-nbd's default --discard=ignore.
     */
    public Builder unmap(boolean value) {
      unmap = value;
      return this;
    }

    /** How long a client may take to finish the handshake (default 10 seconds). */
    public Builder handshakeTimeout(Duration value) {
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException("handshakeTimeout must be positive: " + value);
      }
      handshakeTimeout = value;
      return this;
    }

    /**
     * Binds and listens on a Unix socket that appears at {@code path} only once it listens: bind
     * makes the file and listen comes after, so a client that waits for the file (as scripts do)
     * could be refused in between. The socket is made under a short temporary name beside it and
     * renamed; a name too long for that is bound in place.
     */
    private static void bindUnix(ServerSocketChannel listener, Path path) throws IOException {
      Path parent = path.toAbsolutePath().getParent();
      Path temporary = parent.resolve(".nbd-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 100000);
      if (temporary.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 100) {
        listener.bind(UnixDomainSocketAddress.of(path), LISTEN_BACKLOG);
        return;
      }
      listener.bind(UnixDomainSocketAddress.of(temporary), LISTEN_BACKLOG);
      try {
        Files.move(temporary, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(temporary);
        throw e;
      }
    }

    /** Binds the socket and starts accepting clients. */
    public NbdServer start() throws IOException {
      if (disk == null) {
        throw new IllegalStateException("no disk to export");
      }
      Export export = new Export(disk, exportName, description, readOnly || disk.isReadOnly(), disk.size(),
          maxClients != 1, disk.hasFastZeroes(), unmap, allocationDepth, bitmaps);
      ServerSocketChannel listener;
      if (listening != null) {
        listener = listening;
        listener.configureBlocking(true);
      } else if (unixSocket != null) {
        removeStaleSocket(unixSocket);
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
          bindUnix(listener, unixSocket);
        } catch (IOException e) {
          listener.close();
          throw new IOException("cannot listen on " + unixSocket + ": " + e.getMessage(), e);
        }
      } else {
        listener = ServerSocketChannel.open(tcpAddress.getAddress() instanceof Inet4Address
            ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6);
        try {
          listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
          listener.bind(tcpAddress, LISTEN_BACKLOG);
        } catch (IOException e) {
          listener.close();
          throw new IOException("cannot listen on " + tcpAddress + ": " + e.getMessage(), e);
        }
      }
      NbdServer server;
      try {
        server = new NbdServer(this, export, listener, listening != null ? null : unixSocket);
      } catch (IOException | RuntimeException e) {
        listener.close();
        throw e;
      }
      server.start(stopOnShutdown);
      return server;
    }

    private static void removeStaleSocket(Path path) throws IOException {
      // A socket file left by a server that died is in the way; anything else is not ours to delete.
      if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
        if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(path)
            || Files.isSymbolicLink(path)) {
          throw new IOException("cannot listen on " + path + ": a file is in the way");
        }
        Files.delete(path);
      }
    }

    static String checkString(String value, String what) {
      if (value.getBytes(StandardCharsets.UTF_8).length > Protocol.MAX_STRING || value.indexOf('\0') >= 0) {
        throw new IllegalArgumentException(what + " must be at most " + Protocol.MAX_STRING
            + " UTF-8 bytes without NUL: " + value);
      }
      return value;
    }
  }
}
