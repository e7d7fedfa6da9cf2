package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * qemu-img bench: {@code count} reads or writes of {@code bufferBytes} each, starting at
 * {@code offset} and {@code step} bytes apart (wrapping at the end of the disk), with
 * {@code depth} requests in flight at once; with a flush interval, a flush after every that many
 * requests (the requests in flight drained first, unless not asked to). Each request in flight is
 * a virtual thread doing positional I/O on the thread-safe disk.
 */
public final class ImageBench {
  private ImageBench() {}

  /** One benchmark run as qemu-img bench's options describe it; {@code flushInterval} 0 never flushes. */
  public record Settings(long count, int depth, long offset, int bufferBytes, long step, boolean write, byte pattern,
      long flushInterval, boolean drainOnFlush) {
    /** Checks the settings: nothing negative, a depth of at least 1. */
    public Settings {
      if (count < 0 || depth < 1 || offset < 0 || bufferBytes < 0 || step < 0 || flushInterval < 0) {
        throw new IllegalArgumentException("negative count, offset, size, step or interval, or a depth below 1");
      }
    }
  }

  /** A request of the run failed; the cause says why. */
  public static final class RequestFailure extends IOException {
    private static final long serialVersionUID = 1L;

    RequestFailure(IOException cause) {
      super(cause.getMessage(), cause);
    }
  }

  /** Runs the requests on {@code disk} and returns how long they took (flushes included). */
  public static Duration run(DiskFile disk, Settings settings) throws IOException {
    long size = disk.size();
    if (size == 0 && settings.count() > 0) {
      throw new RequestFailure(new java.io.EOFException("the disk is empty"));
    }
    long batch = settings.flushInterval() > 0 ? settings.flushInterval() : Math.max(1, settings.count());
    List<CompletableFuture<Void>> undrainedFlushes = new ArrayList<>();
    long started = System.nanoTime();
    try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
      for (long first = 0; first < settings.count(); first += batch) {
        runRequests(disk, settings, size, first, Math.min(settings.count(), first + batch), executor);
        if (settings.flushInterval() > 0) {
          if (settings.drainOnFlush()) {
            disk.flush();
          } else {
            undrainedFlushes.add(CompletableFuture.runAsync(() -> {
              try {
                disk.flush();
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            }, executor));
          }
        }
      }
      for (CompletableFuture<Void> flush : undrainedFlushes) {
        await(flush);
      }
    }
    return Duration.ofNanos(System.nanoTime() - started);
  }

  /** Requests {@code first} (inclusive) to {@code end}, at most {@code depth} at a time. */
  private static void runRequests(DiskFile disk, Settings settings, long size, long first, long end,
      ExecutorService executor) throws IOException {
    AtomicLong next = new AtomicLong(first);
    int workers = (int) Math.min(settings.depth(), end - first);
    List<Future<Void>> running = new ArrayList<>(workers);
    for (int worker = 0; worker < workers; worker++) {
      running.add(executor.submit(() -> {
        ByteBuffer buffer = ByteBuffer.allocateDirect(settings.bufferBytes());
        if (settings.write()) {
          for (int index = 0; index < settings.bufferBytes(); index++) {
            buffer.put(index, settings.pattern());
          }
        }
        for (long request = next.getAndIncrement(); request < end; request = next.getAndIncrement()) {
          // like qemu-img, the first request goes where asked, the later ones wrap at the end of the disk
          long offset = request == 0 ? settings.offset() : Math.floorMod(settings.offset() + request * settings.step(), size);
          buffer.clear();
          if (settings.write()) {
            disk.writeFully(buffer, offset);
          } else {
            disk.readFully(buffer, offset);
          }
        }
        return null;
      }));
    }
    for (Future<Void> worker : running) {
      await(worker);
    }
  }

  private static void await(Future<?> future) throws IOException {
    try {
      future.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() instanceof UncheckedIOException unchecked ? unchecked.getCause() : e.getCause();
      if (cause instanceof IOException io) {
        throw new RequestFailure(io);
      }
      if (cause instanceof RuntimeException runtime) {
        throw runtime;
      }
      throw new IllegalStateException(cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("benchmark interrupted");
    }
  }
}
