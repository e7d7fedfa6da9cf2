package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class BufferPoolTest {
  @Test
  void buffersAreReusedBySizeClassWithinTheBudget() {
    BufferPool pool = new BufferPool(16 << 10);
    ByteBuffer small = pool.acquire(100);
    assertThat(small.isDirect()).isTrue();
    assertThat(small.position()).isZero();
    assertThat(small.limit()).isEqualTo(100);
    assertThat(small.capacity()).isEqualTo(4096);
    small.position(50);
    pool.release(small);
    ByteBuffer again = pool.acquire(4096);
    assertThat(again).isSameAs(small);
    assertThat(again.position()).isZero();
    assertThat(again.limit()).isEqualTo(4096);

    ByteBuffer large = pool.acquire(20000);
    assertThat(large.capacity()).isEqualTo(32 << 10);
    pool.release(large);
    // Over the budget: dropped, so the next one of that class is new.
    assertThat(pool.acquire(20000)).isNotSameAs(large);
    assertThat(pool.acquire(0).capacity()).isEqualTo(4096);
    assertThatThrownBy(() -> pool.acquire((32 << 20) + 1)).isInstanceOf(IllegalArgumentException.class);
    assertThat(pool.acquire(32 << 20).capacity()).isEqualTo(32 << 20);
  }
}
