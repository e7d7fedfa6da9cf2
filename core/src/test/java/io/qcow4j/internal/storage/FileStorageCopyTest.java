package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FileStorage#copyFrom} (copy_file_range) and {@link FileStorage#mapForCopy}: the bytes of
 * the source land where a write would put them, a copy the kernel refuses writes nothing, and a
 * write from a buffer over a remembered mapping copies from its file only while the mapping lives.
 */
class FileStorageCopyTest {
  @TempDir Path dir;

  private static byte[] random(int length, long seed) {
    byte[] bytes = new byte[length];
    new Random(seed).nextBytes(bytes);
    return bytes;
  }

  @Test
  void copiesARangeOfAnotherFileInsideTheKernel() throws IOException {
    byte[] source = random(3 << 20, 1);
    Files.write(dir.resolve("source"), source);
    try (FileStorage from = FileStorage.open(dir.resolve("source"), true);
        FileStorage to = FileStorage.create(dir.resolve("target"), false)) {
      assertThat(to.copyFrom(from, 12345, 65536, 2 << 20)).as("same file system: the kernel copies").isTrue();
    }
    byte[] target = Files.readAllBytes(dir.resolve("target"));
    assertThat(target).hasSize(65536 + (2 << 20));
    assertThat(Arrays.copyOfRange(target, 65536, target.length)).isEqualTo(Arrays.copyOfRange(source, 12345, 12345 + (2 << 20)));
    assertThat(Arrays.copyOfRange(target, 0, 65536)).containsOnly(0);
  }

  @Test
  void aSourceThatEndsFirstIsAFailedRead() throws IOException {
    Files.write(dir.resolve("short"), random(4096, 2));
    try (FileStorage from = FileStorage.open(dir.resolve("short"), true);
        FileStorage to = FileStorage.create(dir.resolve("target"), false)) {
      assertThatThrownBy(() -> to.copyFrom(from, 0, 0, 8192)).isInstanceOf(EOFException.class)
          .hasMessageContaining("short").hasMessageContaining("ended after 4096 bytes");
    }
  }

  /** tmpfs and the temporary directory's file system: the kernel copies across them or refuses and writes nothing. */
  @Test
  void acrossFileSystemsCopiesOrWritesNothing() throws IOException {
    Path shm = Path.of("/dev/shm");
    assertThat(shm).isDirectory();
    Path target = Files.createTempFile(shm, "qcow4j-copy", ".bin");
    byte[] source = random(1 << 20, 3);
    Files.write(dir.resolve("source"), source);
    try (FileStorage from = FileStorage.open(dir.resolve("source"), true);
        FileStorage to = FileStorage.open(target, false)) {
      boolean copied = to.copyFrom(from, 0, 0, source.length);
      assertThat(Files.readAllBytes(target)).isEqualTo(copied ? source : new byte[0]);
    } finally {
      Files.delete(target);
    }
  }

  @Test
  void aWriteFromARememberedMappingCopiesWhatTheMappingHolds() throws IOException {
    byte[] source = random(1 << 20, 4);
    Files.write(dir.resolve("source"), source);
    try (FileStorage from = FileStorage.open(dir.resolve("source"), true);
        FileStorage to = FileStorage.create(dir.resolve("target"), false)) {
      try (Arena arena = Arena.ofShared()) {
        MemorySegment mapping = from.mapForCopy(4096, 65536 * 4, arena).orElseThrow();
        ByteBuffer view = mapping.asByteBuffer();
        ByteBuffer slice = view.slice(1000, 70000);
        to.write(slice, 512);
        assertThat(slice.hasRemaining()).isFalse();
        FileStorage.forgetCopySource(mapping);
      }
      // a mapping whose arena closed without being forgotten is not used again
      try (Arena arena = Arena.ofShared()) {
        from.mapForCopy(0, 8192, arena).orElseThrow();
      }
      ByteBuffer plain = ByteBuffer.allocateDirect(8192);
      plain.put(0, random(8192, 5));
      to.write(plain, 100000);
    }
    byte[] target = Files.readAllBytes(dir.resolve("target"));
    assertThat(Arrays.copyOfRange(target, 512, 512 + 70000)).isEqualTo(Arrays.copyOfRange(source, 4096 + 1000, 4096 + 71000));
    assertThat(Arrays.copyOfRange(target, 100000, 108192)).isEqualTo(random(8192, 5));
  }

  /**
   * Inside a {@link CopyBehind} scope, writes from a remembered mapping after the first are copied
   * on the scope's executor (the first, which finds out whether the kernel copies between the two
   * files, runs on the caller); a read of the target waits for them, and the file ends with the
   * same bytes as without the scope.
   */
  @Test
  void copiesBehindAScopeLandWhereTheWritesWouldAndAReadWaitsForThem() throws Exception {
    byte[] source = random(4 << 20, 6);
    Files.write(dir.resolve("source"), source);
    java.util.concurrent.atomic.AtomicInteger ran = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ExecutorService executor = java.util.concurrent.Executors.newSingleThreadExecutor();
    try (FileStorage from = FileStorage.open(dir.resolve("source"), true);
        FileStorage to = FileStorage.create(dir.resolve("target"), false)) {
      try (Arena arena = Arena.ofShared()) {
        MemorySegment mapping = from.mapForCopy(0, source.length, arena).orElseThrow();
        ByteBuffer view = mapping.asByteBuffer();
        try (CopyBehind scope = CopyBehind.open(command -> {
          ran.incrementAndGet();
          executor.execute(command);
        }, 2)) {
          // in reverse order, 64 KiB pieces, each landing 512 bytes further on
          for (int piece = 63; piece >= 0; piece--) {
            ByteBuffer slice = view.slice(piece * 65536, 65536);
            to.write(slice, 512 + piece * 65536L);
            assertThat(slice.hasRemaining()).isFalse();
          }
          ByteBuffer read = ByteBuffer.allocate(65536);
          to.read(read, 512);
          assertThat(read.array()).as("a read waits for the copies").isEqualTo(Arrays.copyOfRange(source, 0, 65536));
        }
        FileStorage.forgetCopySource(mapping);
      }
    } finally {
      executor.shutdownNow();
    }
    assertThat(ran.get()).as("all but the first write copied behind").isEqualTo(63);
    byte[] target = Files.readAllBytes(dir.resolve("target"));
    assertThat(target).hasSize(512 + (4 << 20));
    assertThat(Arrays.copyOfRange(target, 512, target.length)).isEqualTo(source);
  }

  /** A copy behind the scope that fails (its source shrank) fails the scope's close with the copy's error. */
  @Test
  void aFailedCopyBehindFailsTheScope() throws Exception {
    byte[] source = random(1 << 20, 7);
    Path path = dir.resolve("source");
    Files.write(path, source);
    java.util.List<Runnable> queued = new java.util.ArrayList<>();
    try (FileStorage from = FileStorage.open(path, true);
        FileStorage to = FileStorage.create(dir.resolve("target"), false);
        Arena arena = Arena.ofShared()) {
      MemorySegment mapping = from.mapForCopy(0, source.length, arena).orElseThrow();
      ByteBuffer view = mapping.asByteBuffer();
      CopyBehind scope = CopyBehind.open(queued::add, 4);
      to.write(view.slice(0, 4096), 0);
      to.write(view.slice(4096, 8192), 4096);
      assertThat(queued).hasSize(1);
      try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path,
          java.nio.file.StandardOpenOption.WRITE)) {
        channel.truncate(6000);
      }
      queued.getFirst().run();
      assertThatThrownBy(scope::close).isInstanceOf(EOFException.class).hasMessageContaining("source");
      FileStorage.forgetCopySource(mapping);
    }
  }
}
