package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An interrupt fails only the interrupted call; the file stays open for everyone else. */
class FileStorageInterruptTest {
  @TempDir Path dir;

  @Test
  void interruptDoesNotCloseTheFileForOthers() throws Exception {
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      storage.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Thread reader = new Thread(() -> {
        Thread.currentThread().interrupt();
        try {
          storage.read(ByteBuffer.allocate(3), 0);
        } catch (Throwable e) {
          failure.set(e);
        }
      });
      reader.start();
      reader.join();
      assertThat(failure.get()).isInstanceOf(InterruptedIOException.class);
      ByteBuffer back = ByteBuffer.allocate(3);
      storage.readFully(back, 0);
      assertThat(back.array()).containsExactly(1, 2, 3);
      storage.write(ByteBuffer.wrap(new byte[] {4}), 3);
      assertThat(storage.size()).isEqualTo(4);
    }
  }
}
