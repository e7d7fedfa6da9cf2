package io.qcow4j.bench;

import java.nio.ByteBuffer;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/** One benchmark thread's 4 KiB direct buffer, random bytes to write or room to read into. */
@State(Scope.Thread)
public class ThreadBlock {
  final ByteBuffer buffer = Blocks.randomDirect(Blocks.SIZE, Thread.currentThread().threadId());

  /** The buffer, whole again after the last request moved its position. */
  ByteBuffer whole() {
    return buffer.clear();
  }
}
