package io.qcow4j.internal.storagenodes;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystemException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * QEMU's quorum over several storages: a read returns the content at least {@code threshold}
 * children agree on (or, with read-pattern fifo, the first child's that reads), else fails with
 * EIO; writes and the other changes go to every child and succeed where at least
 * {@code threshold} children succeed. The size is the first child's.
 */
public final class QuorumStorage implements Storage {
  private final List<Storage> children;
  private final long threshold;
  private final boolean fifo;

  /** A quorum of {@code children} (closed with it). */
  public QuorumStorage(List<Storage> children, long threshold, boolean fifo) {
    this.children = List.copyOf(children);
    this.threshold = threshold;
    this.fifo = fifo;
  }

  @Override
  public String name() {
    return "quorum";
  }

  @Override
  public boolean isReadOnly() {
    return children.stream().anyMatch(Storage::isReadOnly);
  }

  @Override
  public long size() throws IOException {
    return children.getFirst().size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    int wanted = dst.remaining();
    List<byte[]> answers = new ArrayList<>();
    IOException last = null;
    for (Storage child : children) {
      ByteBuffer copy = ByteBuffer.allocate(wanted);
      try {
        child.readOrZero(copy, position);
      } catch (IOException e) {
        last = e;
        continue;
      }
      if (fifo) {
        dst.put(copy.flip());
        return wanted;
      }
      answers.add(copy.array());
    }
    for (byte[] answer : answers) {
      long votes = answers.stream().filter(other -> Arrays.equals(other, answer)).count();
      if (votes >= threshold) {
        dst.put(answer);
        return wanted;
      }
    }
    FileSystemException failure = new FileSystemException("quorum", null, "Input/output error");
    if (last != null) {
      failure.initCause(last);
    }
    throw failure;
  }

  /** A change made on every child; it succeeds where at least the threshold of children do. */
  @FunctionalInterface
  private interface Change {
    void apply(Storage child) throws IOException;
  }

  private void onEach(Change change) throws IOException {
    int succeeded = 0;
    IOException last = null;
    for (Storage child : children) {
      try {
        change.apply(child);
        succeeded++;
      } catch (IOException e) {
        last = e;
      }
    }
    if (succeeded < threshold) {
      throw last != null ? last : new FileSystemException("quorum", null, "Input/output error");
    }
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    ByteBuffer data = src.slice();
    onEach(child -> child.write(data.duplicate(), position));
    src.position(src.limit());
  }

  @Override
  public void truncate(long newSize) throws IOException {
    onEach(child -> child.truncate(newSize));
  }

  @Override
  public void force(boolean metadata) throws IOException {
    onEach(child -> child.force(metadata));
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    onEach(child -> child.punchHole(position, length));
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    onEach(child -> child.zeroRange(position, length));
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    onEach(child -> child.allocate(position, length));
  }

  @Override
  public void debugEvent(String event) {
    for (Storage child : children) {
      child.debugEvent(event);
    }
  }

  @Override
  public void close() throws IOException {
    IOException failure = null;
    for (Storage child : children) {
      try {
        child.close();
      } catch (IOException e) {
        failure = failure == null ? e : failure;
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
