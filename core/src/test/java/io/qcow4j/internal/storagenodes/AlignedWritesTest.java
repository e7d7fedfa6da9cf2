package io.qcow4j.internal.storagenodes;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.storage.MemoryStorage;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Writes under a request alignment: the read-modify-write events in QEMU's order, and two
 * read-modify-writes of one block serialised so that neither loses the other's bytes.
 */
class AlignedWritesTest {
  private static final int BLOCK = 4096;

  private static final class Recorder implements AlignedWrites.Node {
    final MemoryStorage storage = new MemoryStorage("m", new byte[5 * BLOCK], false);
    final List<String> events = new ArrayList<>();
    volatile String holdAt;
    final CountDownLatch held = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    @Override
    public void event(String name) {
      synchronized (events) {
        events.add(name);
      }
      if (name.equals(holdAt)) {
        holdAt = null;
        held.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    @Override
    public void readBlocks(ByteBuffer dst, long position) throws java.io.IOException {
      assertThat(position % BLOCK).isZero();
      assertThat(dst.remaining() % BLOCK).isZero();
      storage.readOrZero(dst, position);
    }

    @Override
    public void writeBlocks(ByteBuffer src, long position) throws java.io.IOException {
      assertThat(position % BLOCK).isZero();
      assertThat(src.remaining() % BLOCK).isZero();
      storage.write(src, position);
    }
  }

  private static ByteBuffer filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return ByteBuffer.wrap(bytes);
  }

  @Test
  void unalignedWritesReadTheirHeadAndTailBlocksFirst() throws Exception {
    Recorder node = new Recorder();
    AlignedWrites writes = new AlignedWrites(BLOCK, node);
    writes.write(filled(512, 1), 512);
    assertThat(node.events).containsExactly("pwritev_rmw_head", "pwritev_rmw_tail", "pwritev_rmw_after_head",
        "pwritev_rmw_after_tail", "pwritev", "pwritev_done");
    node.events.clear();
    writes.write(filled(2 * BLOCK, 2), BLOCK + 512);
    assertThat(node.events).containsExactly("pwritev_rmw_head", "pwritev_rmw_after_head", "pwritev_rmw_tail",
        "pwritev_rmw_after_tail", "pwritev", "pwritev_done");
    node.events.clear();
    writes.write(filled(BLOCK, 3), 4 * BLOCK);
    assertThat(node.events).containsExactly("pwritev", "pwritev_done");
    byte[] content = node.storage.toByteArray();
    assertThat(content[511]).isZero();
    assertThat(content[512]).isEqualTo((byte) 1);
    assertThat(content[1024]).isZero();
    assertThat(content[BLOCK + 511]).isZero();
    assertThat(content[BLOCK + 512]).isEqualTo((byte) 2);
    assertThat(content[3 * BLOCK + 511]).isEqualTo((byte) 2);
    assertThat(content[3 * BLOCK + 512]).isZero();
    assertThat(content[4 * BLOCK]).isEqualTo((byte) 3);
  }

  @Test
  void aReadModifyWriteWaitsForTheOneInFlightOnItsBlock() throws Exception {
    Recorder node = new Recorder();
    AlignedWrites writes = new AlignedWrites(BLOCK, node);
    node.holdAt = "pwritev_rmw_after_head";
    Thread first = Thread.ofPlatform().start(() -> {
      try {
        writes.write(filled(512, 10), 512);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    assertThat(node.held.await(10, TimeUnit.SECONDS)).isTrue();
    Thread second = Thread.ofPlatform().start(() -> {
      try {
        writes.write(filled(512, 11), 1024);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    // the second one waits for the first before it reads the block
    while (second.getState() != Thread.State.WAITING && second.isAlive()) {
      Thread.sleep(1);
    }
    assertThat(node.events).containsOnlyOnce("pwritev_rmw_head");
    node.release.countDown();
    first.join();
    second.join();
    byte[] content = node.storage.toByteArray();
    assertThat(content[512]).isEqualTo((byte) 10);
    assertThat(content[1024]).isEqualTo((byte) 11);
  }
}
