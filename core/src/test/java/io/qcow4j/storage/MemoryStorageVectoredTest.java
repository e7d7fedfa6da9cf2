package io.qcow4j.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The default vectored calls of Storage, seen through MemoryStorage. */
class MemoryStorageVectoredTest {

  @Test
  void writeThenReadAcrossBuffers() throws IOException {
    MemoryStorage storage = new MemoryStorage("memory");
    storage.write(new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1, 2}), ByteBuffer.allocate(0),
        ByteBuffer.allocateDirect(3).put(new byte[] {3, 4, 5}).flip()}, 2);
    assertThat(storage.toByteArray()).containsExactly(0, 0, 1, 2, 3, 4, 5);
    ByteBuffer first = ByteBuffer.allocate(4);
    ByteBuffer second = ByteBuffer.allocate(4);
    assertThat(storage.read(new ByteBuffer[] {first, second}, 1)).isEqualTo(6);
    assertThat(first.array()).containsExactly(0, 1, 2, 3);
    assertThat(second.position()).isEqualTo(2);
    assertThat(second.array()).containsExactly(4, 5, 0, 0);
  }

  @Test
  void endOfStorage() throws IOException {
    MemoryStorage storage = new MemoryStorage("memory", new byte[] {9, 8, 7}, true);
    assertThat(storage.read(new ByteBuffer[] {ByteBuffer.allocate(2)}, 3)).isEqualTo(-1);
    assertThat(storage.read(new ByteBuffer[] {ByteBuffer.allocate(0)}, 3)).isZero();
    assertThatThrownBy(() -> storage.readFully(new ByteBuffer[] {ByteBuffer.allocate(2), ByteBuffer.allocate(2)}, 0))
        .isInstanceOf(EOFException.class).hasMessageContaining("memory");
    ByteBuffer first = ByteBuffer.allocate(2);
    ByteBuffer second = ByteBuffer.wrap(new byte[] {5, 5, 5});
    storage.readOrZero(new ByteBuffer[] {first, second}, 1);
    assertThat(first.array()).containsExactly(8, 7);
    assertThat(second.array()).containsExactly(0, 0, 0);
  }
}
