package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.FaultyStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * cache=unsafe: a qcow2 image made and filled over {@link NoFlushStorage} issues no barrier at
 * all, yet holds every byte written, read back through the same engine and again after reopening.
 */
class NoFlushStorageTest {
  @Test
  void aQcow2ImageOverItWritesEverythingWithoutABarrier() throws IOException {
    FaultyStorage file = new FaultyStorage("target.qcow2");
    byte[] data = new byte[3 << 20];
    Arrays.fill(data, (byte) 0x5a);
    try (QcowFile image = QcowFile.create(new NoFlushStorage(file), CreateOptions.of(16 << 20))) {
      image.writeFully(ByteBuffer.wrap(data), 1 << 20);
      image.force(true);
    }
    assertThat(file.barrierCount()).isZero();
    try (QcowFile image = QcowFile.open(new FaultyStorage("copy", file.content()), null,
        io.qcow4j.disk.OpenOptions.readOnlyDefaults())) {
      ByteBuffer back = ByteBuffer.allocate(data.length);
      image.readFully(back, 1 << 20);
      assertThat(back.array()).isEqualTo(data);
    }
  }
}
