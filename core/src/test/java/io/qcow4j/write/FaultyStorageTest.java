package io.qcow4j.write;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.storage.FaultyStorage;
import io.qcow4j.storage.FaultyStorage.Tearing;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The crash-test storage itself: what survives a cut, and the refusal after power is lost. */
class FaultyStorageTest {

  private static ByteBuffer filled(int length, int value) {
    byte[] bytes = new byte[length];
    java.util.Arrays.fill(bytes, (byte) value);
    return ByteBuffer.wrap(bytes);
  }

  @Test
  void everythingBeforeTheLastBarrierSurvivesAndNothingAfterItWithKeepProbabilityZero() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk");
    storage.write(filled(1024, 1), 0);
    storage.force(false);
    storage.write(filled(512, 2), 0);
    storage.truncate(4096);
    assertThat(storage.eventCount()).isEqualTo(4);

    FaultyStorage.Replay replay = storage.replay();
    assertThat(replay.survivorAt(0, new Random(1), 1.0, Tearing.NONE)).isEmpty();
    byte[] atBarrier = replay.survivorAt(2, new Random(1), 1.0, Tearing.NONE);
    assertThat(atBarrier).hasSize(1024).containsOnly(1);
    byte[] noneKept = replay.survivorAt(4, new Random(1), 0.0, Tearing.NONE);
    assertThat(noneKept).hasSize(1024).containsOnly(1);
    byte[] allKept = replay.survivorAt(4, new Random(1), 1.0, Tearing.NONE);
    assertThat(allKept).hasSize(4096);
    assertThat(allKept[0]).isEqualTo((byte) 2);
    assertThat(allKept[600]).isEqualTo((byte) 1);
    assertThat(storage.content()).isEqualTo(allKept);
  }

  @Test
  void tornWritesKeepWholeSectorsOnly() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk", new byte[8192]);
    storage.write(filled(8192, 7), 0);
    byte[] survivor = storage.replay().survivorAt(1, new Random(3), 0.5, Tearing.SECTORS);
    int kept = 0;
    for (int sector = 0; sector < 16; sector++) {
      byte first = survivor[sector * 512];
      for (int index = 0; index < 512; index++) {
        assertThat(survivor[sector * 512 + index]).isEqualTo(first);
      }
      kept += first == 7 ? 1 : 0;
    }
    assertThat(kept).isBetween(1, 15);
  }

  @Test
  void powerLossRefusesLaterChangesAndHandlesShareTheFile() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk");
    storage.write(filled(16, 1), 0);
    storage.failAt(1);
    assertThatThrownBy(() -> storage.write(filled(16, 2), 0)).isInstanceOf(IOException.class)
        .hasMessageContaining("power lost");
    assertThatThrownBy(() -> storage.force(true)).isInstanceOf(IOException.class);
    storage.close();
    FaultyStorage again = storage.reopen(true);
    ByteBuffer read = ByteBuffer.allocate(16);
    again.readFully(read, 0);
    assertThat(read.array()).containsOnly(1);
    assertThatThrownBy(() -> storage.size()).isInstanceOf(IOException.class);
  }
}
