package io.qcow4j.internal.storagenodes;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.internal.storagenodes.BlkdebugLimits.Fate;
import io.qcow4j.internal.storagenodes.BlkdebugLimits.Piece;
import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.storage.MemoryStorage;
import java.nio.ByteBuffer;
import java.nio.file.FileSystemException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * blkdebug's request limits cut writes of zeroes and discards as QEMU 7.2's block layer does
 * (iotest 204's cases, worked through bdrv_co_do_pwrite_zeroes and bdrv_co_pdiscard by hand).
 */
class BlkdebugLimitsTest {
  private static final long M = 1 << 20;
  private static final BlkdebugLimits FIFTEEN = new BlkdebugLimits(512, 0, 15 * M, 15 * M, 15 * M, 15 * M);

  @Test
  void writesOfZeroesSmallerThanTheOptimalAlignmentBecomeWritesOfZeros() {
    assertThat(FIFTEEN.writeZeroes(32 * M, 32 * M)).containsExactly(
        new Piece(32 * M, 13 * M, Fate.WRITE_ZEROS),
        new Piece(45 * M, 15 * M, Fate.PASS),
        new Piece(60 * M, 4 * M, Fate.WRITE_ZEROS));
  }

  @Test
  void theHeadOfAWriteOfZeroesGoesInPiecesOfMaxTransfer() {
    BlkdebugLimits limits = new BlkdebugLimits(512, 65536, M, 0, 0, 0);
    List<Piece> pieces = limits.writeZeroes(8003584, 2093056);
    // up to 8 MiB in 64 KiB writes of zeros (the last one shorter), 8 MiB to 9 MiB passed, the tail written
    assertThat(pieces.getFirst()).isEqualTo(new Piece(8003584, 65536, Fate.WRITE_ZEROS));
    assertThat(pieces).contains(new Piece(8 * M, M, Fate.PASS));
    assertThat(pieces.stream().filter(p -> p.fate() == Fate.PASS)).hasSize(1);
    assertThat(pieces.stream().mapToLong(Piece::length).max().orElseThrow()).isEqualTo(M);
    assertThat(pieces.stream().filter(p -> p.fate() == Fate.WRITE_ZEROS).mapToLong(Piece::length).max().orElseThrow())
        .isEqualTo(65536);
    assertThat(pieces.stream().mapToLong(Piece::length).sum()).isEqualTo(2093056);
  }

  @Test
  void discardsAreCutAtTheOptimalAlignmentAndTheirSubSectorEndsDropped() {
    assertThat(FIFTEEN.discard(80000001, 30 * M)).containsExactly(
        new Piece(80000001, 511, Fate.DROP),
        new Piece(80000512, 14371328, Fate.PASS),
        new Piece(90 * M, 15 * M, Fate.PASS),
        new Piece(105 * M, 1356800, Fate.PASS),
        new Piece(111457280, 1, Fate.DROP));
  }

  @Test
  void withoutLimitsARequestPassesWhole() {
    assertThat(BlkdebugLimits.NONE.writeZeroes(1000, 5 * M)).containsExactly(new Piece(1000, 5 * M, Fate.PASS));
    assertThat(BlkdebugLimits.NONE.discard(1000, 5 * M)).containsExactly(new Piece(1000, 5 * M, Fate.PASS));
  }

  @Test
  void theStorageWritesRefusedZeroesAsDataThroughItsWriteRules() throws Exception {
    byte[] content = new byte[64 * 1024];
    java.util.Arrays.fill(content, (byte) 1);
    MemoryStorage memory = new MemoryStorage("m", content, false);
    // a write error on every write: the refused head of the write of zeroes must meet it
    List<BlkdebugRule> rules = List.of(new BlkdebugRule(BlkdebugRule.Action.INJECT_ERROR, "none", 0, 5, -1, false,
        true, BlkdebugRule.WRITE, 0));
    try (BlkdebugStorage storage = new BlkdebugStorage(memory, rules, new BlkdebugLimits(512, 0, 4096, 0, 0, 0))) {
      storage.debugEvent("none");
      storage.zeroRange(4096, 8192);
      assertThat(memory.toByteArray()[4096]).isZero();
      assertThat(memory.toByteArray()[4095]).isEqualTo((byte) 1);
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> storage.zeroRange(512, 4096))
          .isInstanceOf(FileSystemException.class).hasMessageContaining("Input/output error");
    }
  }
}
