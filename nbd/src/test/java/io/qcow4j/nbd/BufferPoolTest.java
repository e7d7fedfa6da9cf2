package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class BufferPoolTest {
  private static final int MAX = Protocol.MAX_PAYLOAD;

  @Test
  void buffersAreReusedBySizeClass() {
    BufferPool pool = new BufferPool(2L * MAX);
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
    assertThat(pool.acquire(20000)).isSameAs(large);
    assertThat(pool.acquire(0).capacity()).isEqualTo(4096);
    assertThat(pool.allocatedBytes()).isEqualTo(4096 + (32 << 10) + 4096);
    assertThatThrownBy(() -> pool.acquire(MAX + 1)).isInstanceOf(IllegalArgumentException.class);
    assertThat(pool.acquire(MAX).capacity()).isEqualTo(MAX);
  }

  @Test
  void keptBuffersOfOtherClassesAreFreedToStayWithinTheCapacity() {
    BufferPool pool = new BufferPool(MAX);
    ByteBuffer half = pool.acquire(MAX / 2);
    ByteBuffer quarter = pool.acquire(MAX / 4);
    pool.release(half);
    pool.release(quarter);
    // a whole payload fits only once both kept buffers are gone
    ByteBuffer whole = pool.acquire(MAX);
    assertThat(whole.capacity()).isEqualTo(MAX);
    assertThat(pool.allocatedBytes()).isEqualTo(MAX);
    whole.put(0, (byte) 1).put(MAX - 1, (byte) 2);
    pool.release(whole);
    assertThat(pool.acquire(4096).capacity()).isEqualTo(4096);
    assertThat(pool.allocatedBytes()).isEqualTo(4096);
  }

  @Test
  void aBorrowerWaitsWhileEveryByteIsLent() throws Exception {
    BufferPool pool = new BufferPool(MAX);
    ByteBuffer half = pool.acquire(MAX / 2);
    ByteBuffer other = pool.acquire(MAX / 2);
    CompletableFuture<ByteBuffer> waiting = CompletableFuture.supplyAsync(() -> pool.acquire(MAX / 2));
    assertThatThrownBy(() -> waiting.get(200, TimeUnit.MILLISECONDS))
        .isInstanceOf(java.util.concurrent.TimeoutException.class);
    assertThat(pool.allocatedBytes()).isEqualTo(MAX);
    pool.release(other);
    assertThat(waiting.get(10, TimeUnit.SECONDS)).isSameAs(other);
    pool.release(half);
    assertThatThrownBy(() -> new BufferPool(MAX - 1)).isInstanceOf(IllegalArgumentException.class);
  }
}
