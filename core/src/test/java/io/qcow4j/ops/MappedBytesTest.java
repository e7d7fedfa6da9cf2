package io.qcow4j.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Buffers.Mapped}: the same answers as the JDK's mismatch, and an error, not a crash, on a file that shrank. */
class MappedBytesTest {
  @TempDir Path dir;

  @Test
  void mismatchFindsEveryFirstDifferenceLikeTheJdk() {
    int length = 200;
    MemorySegment first = MemorySegment.ofArray(new byte[length]);
    for (int at = 0; at < length; at++) {
      MemorySegment second = MemorySegment.ofArray(new byte[length]);
      second.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at, (byte) 1);
      second.set(java.lang.foreign.ValueLayout.JAVA_BYTE, length - 1, (byte) 2);
      for (int prefix : new int[] {at, at + 1, length}) {
        assertThat(Buffers.Mapped.mismatch(first, second, prefix))
            .as("difference at %d, %d bytes compared", at, prefix)
            .isEqualTo(MemorySegment.mismatch(first, 0, prefix, second, 0, prefix));
      }
      assertThat(Buffers.Mapped.firstNonZero(second, 0, length)).isEqualTo(at);
      assertThat(Buffers.Mapped.firstNonZero(second, 0, at)).isEqualTo(-1);
      if (at > 3) {
        assertThat(Buffers.Mapped.firstNonZero(second, 3, at - 3 + 1)).isEqualTo(at - 3);
      }
    }
  }

  /** Past one 4 KiB block and at lengths that are not whole words: each block's word-wise test first. */
  @Test
  void mismatchAndNonZeroFindEveryFirstDifferenceAcrossBlocks() {
    int length = 3 * 4096 + 13;
    MemorySegment zeros = MemorySegment.ofArray(new byte[length]);
    java.nio.ByteBuffer zeroView = java.nio.ByteBuffer.allocateDirect(length);
    for (int at = 0; at < length; at += at < 4200 && at > 4000 ? 1 : 37) {
      MemorySegment second = MemorySegment.ofArray(new byte[length]);
      second.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at, (byte) 0x40);
      java.nio.ByteBuffer view = java.nio.ByteBuffer.allocateDirect(length).order(java.nio.ByteOrder.nativeOrder());
      view.put(at, (byte) 0x40);
      for (int prefix : new int[] {at, at + 1, at + 9, length}) {
        int compared = Math.min(prefix, length);
        long expected = MemorySegment.mismatch(zeros, 0, compared, second, 0, compared);
        assertThat(Buffers.Mapped.mismatch(zeros, second, compared)).as("difference at %d of %d", at, compared)
            .isEqualTo(expected);
        assertThat(Buffers.Mapped.firstNonZero(view, 0, compared)).as("non-zero at %d of %d", at, compared)
            .isEqualTo((int) expected);
      }
      assertThat(Buffers.Mapped.firstNonZero(zeroView, 0, length)).isEqualTo(-1);
    }
  }

  /** Convert's runs of sectors written and left out: the same over a mapping's view as over the JDK's mismatch. */
  @Test
  void sparseRunsAreTheSameOverAMappingView() {
    java.util.Random random = new java.util.Random(5);
    int length = 64 * 512 + 100;
    for (int round = 0; round < 200; round++) {
      byte[] bytes = new byte[length];
      for (int at = 0; at < length; at++) {
        // runs of zeros and data of random lengths, data sometimes only in a sector's last byte
        if (random.nextInt(600) == 0) {
          at += random.nextInt(4000);
        } else if (random.nextInt(3) != 0) {
          bytes[at] = (byte) (random.nextInt(255) + 1);
        }
      }
      MemorySegment data = MemorySegment.ofArray(bytes);
      java.nio.ByteBuffer view = java.nio.ByteBuffer.allocateDirect(length).order(java.nio.ByteOrder.nativeOrder());
      view.put(0, bytes);
      for (int sparse : new int[] {1, 8, 16}) {
        SparseRuns runs = new SparseRuns(sparse, 1);
        int sectors = (length + 511) / 512;
        for (int first = 0; first < sectors; first++) {
          assertThat(runs.runMin(MemorySegment.ofBuffer(view), view, length, first, sectors - first, first + 3))
              .as("round %d, -S %d sectors, from sector %d", round, sparse, first)
              .isEqualTo(runs.runMin(data, length, first, sectors - first, first + 3));
        }
      }
    }
  }

  /** The sector test: false wherever one byte is set (first word or not, a tail that is not a whole word), true on zeros. */
  @Test
  void isZeroSeesEveryByte() {
    for (int length : new int[] {1, 7, 8, 9, 512, 515}) {
      java.nio.ByteBuffer view = java.nio.ByteBuffer.allocateDirect(length + 16).order(java.nio.ByteOrder.nativeOrder());
      assertThat(Buffers.Mapped.isZero(view, 3, length)).as("zeros, %d bytes", length).isTrue();
      for (int at = 0; at < length; at++) {
        view.put(3 + at, (byte) 0x80);
        assertThat(Buffers.Mapped.isZero(view, 3, length)).as("byte %d of %d", at, length).isFalse();
        view.put(3 + at, (byte) 0);
      }
      // bytes just outside the range do not count
      view.put(2, (byte) 1).put(3 + length, (byte) 1);
      assertThat(Buffers.Mapped.isZero(view, 3, length)).as("set around %d bytes", length).isTrue();
    }
  }

  @Test
  void sectorsAreTheSameWhetherMappedOrNot() {
    byte[] bytes = new byte[8192];
    bytes[5000] = 7;
    MemorySegment data = MemorySegment.ofArray(bytes);
    MemorySegment zeros = MemorySegment.ofArray(new byte[8192]);
    for (boolean mapped : new boolean[] {false, true}) {
      assertThat(Buffers.firstNonZeroSector(data, 8192, mapped)).isEqualTo(4608);
      assertThat(Buffers.firstNonZeroSector(zeros, 8192, mapped)).isEqualTo(-1);
      assertThat(Buffers.firstDifferentSector(data, zeros, 8192, mapped)).isEqualTo(4608);
      assertThat(Buffers.firstDifferentSector(zeros, zeros, 8192, mapped)).isEqualTo(-1);
    }
  }

  /** Many rounds, so the loops run interpreted, then compiled, when the file shrinks under them. */
  @Test
  void aShrunkMappingFaultsIntoAnErrorInEveryRound() throws IOException {
    Path path = dir.resolve("shrinks.bin");
    int size = 512 << 10;
    for (int round = 0; round < 25; round++) {
      Files.write(path, new byte[size]);
      try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
          Arena arena = Arena.ofConfined()) {
        MemorySegment mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        MemorySegment other = MemorySegment.ofArray(new byte[size]);
        assertThat(Buffers.Mapped.mismatch(mapped, other, size)).isEqualTo(-1);
        assertThat(Buffers.Mapped.firstNonZero(mapped, 0, size)).isEqualTo(-1);
        channel.truncate(4096);
        assertThatThrownBy(() -> Buffers.Mapped.mismatch(mapped, other, size)).isInstanceOf(InternalError.class);
        assertThatThrownBy(() -> Buffers.Mapped.firstNonZero(mapped, 0, size)).isInstanceOf(InternalError.class);
        // a range of one sector (read through the segment, not a view)
        assertThatThrownBy(() -> Buffers.Mapped.firstNonZero(mapped, 8192, 512)).isInstanceOf(InternalError.class);
        java.nio.ByteBuffer view = Buffers.Mapped.view(mapped);
        assertThatThrownBy(() -> Buffers.Mapped.isZero(view, 8192, 512)).isInstanceOf(InternalError.class);
      }
    }
  }
}
