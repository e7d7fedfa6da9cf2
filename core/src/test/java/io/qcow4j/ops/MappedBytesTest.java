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
      }
    }
  }
}
