package io.qcow4j.bench;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Sixteen virtual threads that each make {@link #PER_THREAD} allocating 4 KiB writes, so that 16
 * requests are in flight at once, as qemu-img bench -d 16 keeps them.
 */
@State(Scope.Thread)
public class DepthWriters {
  static final int DEPTH = 16;
  static final int PER_THREAD = 64;
  static final int WRITES = DEPTH * PER_THREAD;

  private ExecutorService executor;
  private final List<ByteBuffer> buffers = new ArrayList<>();

  @Setup(Level.Trial)
  public void start() {
    executor = Executors.newVirtualThreadPerTaskExecutor();
    for (int index = 0; index < DEPTH; index++) {
      buffers.add(Blocks.randomDirect(Blocks.SIZE, index));
    }
  }

  /** Runs the {@link #WRITES} writes and returns when every one is done; the first failure is thrown. */
  void writeAll(FreshImage image) throws Exception {
    List<Future<?>> running = new ArrayList<>(DEPTH);
    for (ByteBuffer buffer : buffers) {
      running.add(executor.submit(() -> {
        for (int count = 0; count < PER_THREAD; count++) {
          image.disk.write(buffer.clear(), image.unallocatedCluster());
        }
        return null;
      }));
    }
    for (Future<?> write : running) {
      write.get();
    }
  }

  @TearDown(Level.Trial)
  public void stop() {
    executor.close();
  }
}
