package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native calls' structs, read and written through ByteBuffer views rather than layout
 * VarHandles: the errno a failed call leaves, stat's st_blocks, a path with bytes beyond ASCII,
 * the iovec array of a vectored read.
 */
class NativeStructsTest {
  @TempDir Path dir;

  @Test
  void aFailedCallReportsItsErrno() throws Exception {
    Path file = dir.resolve("file");
    Files.write(file, new byte[4096]);
    try (NativeFile nativeFile = NativeFile.open(file, true).orElseThrow(); Arena arena = Arena.ofConfined()) {
      // one iovec whose buffer is at address 8: the kernel answers EFAULT (14)
      MemorySegment iovecs = arena.allocate(NativeFile.IOVEC);
      NativeFile.fields(iovecs).putLong(0, 8).putLong(8, 16);
      assertThatThrownBy(() -> nativeFile.preadv(iovecs, 1, 0, arena))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("preadv of 1 buffers at offset 0 failed")
          .hasMessageContaining("(errno 14)");
    }
  }

  @Test
  void theAllocatedBytesAreStBlocksOfThePathNamed() throws Exception {
    // a name with bytes beyond ASCII goes to the kernel in UTF-8 and NUL-terminated
    Path file = dir.resolve("dünn-ß.img");
    try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
        java.nio.file.StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(new byte[8192]), 1 << 20);
    }
    assertThat(Files.size(file)).isEqualTo((1 << 20) + 8192);
    long allocated = NativeFile.allocatedBytes(file);
    // a sparse file: its data block(s) and no more than the written 8 KiB rounded to the file
    // system's blocks; what du reports
    assertThat(allocated).isPositive().isLessThan(1 << 20).isEqualTo(duBytes(file));
    assertThat(NativeFile.allocatedBytes(dir.resolve("absent"))).isEqualTo(-1);
  }

  @Test
  void aVectoredReadFillsEachBufferFromItsOffset() throws Exception {
    Path file = dir.resolve("data");
    byte[] bytes = new byte[300];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) i;
    }
    Files.write(file, bytes);
    try (FileStorage storage = FileStorage.open(file, true)) {
      ByteBuffer first = ByteBuffer.allocateDirect(100);
      ByteBuffer second = ByteBuffer.allocate(150);
      assertThat(storage.read(new ByteBuffer[] {first, second}, 10)).isEqualTo(250);
      assertThat(first.get(0)).isEqualTo((byte) 10);
      assertThat(first.get(99)).isEqualTo((byte) 109);
      assertThat(second.get(0)).isEqualTo((byte) 110);
      assertThat(second.get(149)).isEqualTo((byte) 259);
    }
  }

  private static long duBytes(Path file) throws Exception {
    Process du = new ProcessBuilder(List.of("du", "-B1", "--", file.toString())).start();
    String out = new String(du.getInputStream().readAllBytes()).trim();
    assertThat(du.waitFor()).isZero();
    return Long.parseLong(out.split("\\s+")[0]);
  }
}
