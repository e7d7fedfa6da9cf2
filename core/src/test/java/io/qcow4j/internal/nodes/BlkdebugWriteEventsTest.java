package io.qcow4j.internal.nodes;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.storagenodes.BlkdebugStorage;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.storage.MemoryStorage;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * How many write_aio events one guest write raises, which blkdebug's state machine counts: a write
 * over a data cluster and a zero cluster whose preallocated host cluster follows it is one host
 * write, as QEMU's (iotest 066: set-state on write_aio, an error in the state after it).
 */
class BlkdebugWriteEventsTest {
  private static final int CLUSTER = 65536;

  /** A 192 KiB image, all three clusters written, the middle one then zeroed keeping its host cluster. */
  private static byte[] imageWithZeroClusterInTheMiddle() throws Exception {
    MemoryStorage storage = new MemoryStorage("t.qcow2");
    try (QcowFile image = QcowFile.create(storage, CreateOptions.of(3L * CLUSTER))) {
      image.writeFully(filled(3 * CLUSTER, 42), 0);
      image.writeZeroes(CLUSTER, CLUSTER);
    }
    return storage.toByteArray();
  }

  /** set-state to {@code states} on each write_aio in turn, and an error on write_aio in the state after them. */
  private static List<BlkdebugRule> failAfterWrites(int writes) {
    List<BlkdebugRule> rules = new java.util.ArrayList<>();
    rules.add(new BlkdebugRule(BlkdebugRule.Action.INJECT_ERROR, "write_aio", writes + 1, 5, -1, false, false,
        BlkdebugRule.DEFAULT_IO_TYPES, 0));
    for (int state = 1; state <= writes; state++) {
      rules.add(new BlkdebugRule(BlkdebugRule.Action.SET_STATE, "write_aio", state, 0, -1, false, false, 0, state + 1));
    }
    return rules;
  }

  @Test
  void aWriteOverDataAndAPreallocatedZeroClusterIsOneHostWrite() throws Exception {
    byte[] bytes = imageWithZeroClusterInTheMiddle();
    MemoryStorage storage = new MemoryStorage("t.qcow2", bytes, false);
    Extent before;
    try (QcowFile image = QcowFile.open(reopen(storage), null, OpenOptions.readOnlyDefaults())) {
      before = image.blockStatus(0, image.size());
      assertThat(before.length()).isEqualTo(CLUSTER);
    }
    try (QcowFile image = QcowFile.open(new BlkdebugStorage(storage, failAfterWrites(1)), null,
        OpenOptions.readWriteDefaults())) {
      image.writeFully(filled(3 * CLUSTER, 42), 0);
    }
    try (QcowFile image = QcowFile.open(reopen(storage), null, OpenOptions.readOnlyDefaults())) {
      Extent after = image.blockStatus(0, image.size());
      assertThat(after.length()).isEqualTo(3L * CLUSTER);
      assertThat(after.data()).isTrue();
      assertThat(after.hostOffset()).isEqualTo(before.hostOffset());
      ByteBuffer content = ByteBuffer.allocate(3 * CLUSTER);
      image.readFully(content, 0);
      assertThat(content.array()).containsOnly(42);
    }
  }

  @Test
  void theInPlacePathWithItsRefcountsLoadedJoinsTheZeroClusterToo() throws Exception {
    byte[] bytes = imageWithZeroClusterInTheMiddle();
    MemoryStorage storage = new MemoryStorage("t.qcow2", bytes, false);
    // the first write (state 1 to 2) loads the refcounts; the second must raise one event (2 to 3)
    try (QcowFile image = QcowFile.open(new BlkdebugStorage(storage, failAfterWrites(2)), null,
        OpenOptions.readWriteDefaults())) {
      image.writeFully(filled(512, 7), 2 * CLUSTER);
      image.writeFully(filled(3 * CLUSTER - 4096, 43), 4096);
    }
    try (QcowFile image = QcowFile.open(reopen(storage), null, OpenOptions.readOnlyDefaults())) {
      assertThat(image.blockStatus(0, image.size()).length()).isEqualTo(3L * CLUSTER);
      ByteBuffer content = ByteBuffer.allocate(3 * CLUSTER - 4096);
      image.readFully(content, 4096);
      assertThat(content.array()).containsOnly(43);
    }
  }

  /** The storage's bytes as a new storage: closing an image closes its storage. */
  private static MemoryStorage reopen(MemoryStorage storage) {
    return new MemoryStorage("t.qcow2", storage.toByteArray(), false);
  }

  private static ByteBuffer filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return ByteBuffer.wrap(bytes);
  }
}
