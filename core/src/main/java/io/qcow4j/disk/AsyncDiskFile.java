package io.qcow4j.disk;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/** A {@link DiskFile} seen through {@link CompletableFuture}s that run on a given executor. */
public final class AsyncDiskFile {
  private final DiskFile disk;
  private final Executor executor;

  AsyncDiskFile(DiskFile disk, Executor executor) {
    this.disk = disk;
    this.executor = executor;
  }

  /** The disk behind this view. */
  public DiskFile disk() {
    return disk;
  }

  /** Reads like {@link DiskFile#read(ByteBuffer, long)}. */
  public CompletableFuture<Integer> read(ByteBuffer dst, long position) {
    return supply(() -> disk.read(dst, position));
  }

  /** Fills the buffer like {@link DiskFile#readFully(ByteBuffer, long)}. */
  public CompletableFuture<Void> readFully(ByteBuffer dst, long position) {
    return run(() -> disk.readFully(dst, position));
  }

  /** Writes like {@link DiskFile#write(ByteBuffer, long)}. */
  public CompletableFuture<Integer> write(ByteBuffer src, long position) {
    return supply(() -> disk.write(src, position));
  }

  /** Flushes like {@link DiskFile#flush()}. */
  public CompletableFuture<Void> flush() {
    return run(disk::flush);
  }

  /** Forces like {@link DiskFile#force(boolean)}. */
  public CompletableFuture<Void> force(boolean metadata) {
    return run(() -> disk.force(metadata));
  }

  /** Discards like {@link DiskFile#discard(long, long)}. */
  public CompletableFuture<Void> discard(long offset, long length) {
    return run(() -> disk.discard(offset, length));
  }

  /** Zeroes like {@link DiskFile#writeZeroes(long, long)}. */
  public CompletableFuture<Void> writeZeroes(long offset, long length) {
    return run(() -> disk.writeZeroes(offset, length));
  }

  private interface IoSupplier<T> {
    T get() throws IOException;
  }

  private interface IoAction {
    void run() throws IOException;
  }

  private <T> CompletableFuture<T> supply(IoSupplier<T> supplier) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return supplier.get();
      } catch (IOException e) {
        throw new CompletionException(e);
      } catch (UncheckedIOException e) {
        throw new CompletionException(e.getCause());
      }
    }, executor);
  }

  private CompletableFuture<Void> run(IoAction action) {
    return supply(() -> {
      action.run();
      return null;
    });
  }
}
