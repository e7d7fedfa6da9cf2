package io.qcow4j.cli;

import java.io.IOException;
import java.io.Writer;

/**
 * C's fully buffered stdout, as glibc buffers a pipe or a file: text reaches the underlying writer
 * only in whole blocks of {@value #BLOCK} characters, once more than that is pending, and the rest
 * at {@link #drain}. A tool's messages on the unbuffered stderr thus land among its stdout lines
 * where QEMU's land when both go to one file (QEMU's iotests compare exactly that); a plain
 * {@code flush()} does not drain, since QEMU's printf does not flush either.
 */
final class StdioBuffer extends Writer {
  /** glibc's buffer for a pipe or regular file: st_blksize, 4096 bytes. */
  static final int BLOCK = 4096;

  private final Writer target;
  private final StringBuilder pending = new StringBuilder();

  StdioBuffer(Writer target) {
    this.target = target;
  }

  @Override
  public void write(char[] chars, int offset, int length) throws IOException {
    pending.append(chars, offset, length);
    if (pending.length() > BLOCK) {
      // glibc fills the buffer, writes it, then writes whole blocks of the rest directly
      int whole = pending.length() - pending.length() % BLOCK;
      target.write(pending.substring(0, whole));
      target.flush();
      pending.delete(0, whole);
    }
  }

  /** fflush(stdout): everything pending reaches the underlying writer. */
  void drain() throws IOException {
    target.write(pending.toString());
    pending.setLength(0);
    target.flush();
  }

  @Override
  public void flush() {
    // printf does not flush a fully buffered stream; see drain
  }

  @Override
  public void close() throws IOException {
    drain();
  }
}
