package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.ImageLockedException;
import io.qcow4j.disk.OpenOptions;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native calls prepared on a thread of their own while opens go on: an open that needs them
 * meanwhile waits and then takes and tests its image locks as ever.
 */
class NativeCallsTest {
  @TempDir Path dir;

  @Test
  void opensDuringThePreparationTakeTheirLocks() throws Exception {
    Path image = dir.resolve("image");
    Files.write(image, new byte[4096]);
    NativeCalls.prepareInBackground();
    try (FileStorage writer = FileStorage.open(image, false, LockRequest.forImageFile(OpenOptions.readWriteDefaults()))) {
      // a second open of the same file in this process, as a second qemu-img would, is refused
      assertThatThrownBy(() -> FileStorage.open(image, true, LockRequest.forImageFile(OpenOptions.readOnlyDefaults())))
          .isInstanceOf(ImageLockedException.class)
          .hasMessageContaining("Failed to get shared \"write\" lock");
      // the descriptor's other native calls work too
      assertThat(writer.size()).isEqualTo(4096);
      writer.write(ByteBuffer.wrap(new byte[] {1}), 0);
    }
    // the locks went with the descriptor
    try (FileStorage reader = FileStorage.open(image, true, LockRequest.forImageFile(OpenOptions.readOnlyDefaults()))) {
      assertThat(reader.size()).isEqualTo(4096);
    }
  }

  @Test
  void thePreparingThreadIsADaemonThatStartsOnce() throws Exception {
    NativeCalls.prepareInBackground();
    NativeCalls.prepareInBackground();
    long preparing = Thread.getAllStackTraces().keySet().stream()
        .filter(thread -> thread.getName().equals("qcow4j native calls"))
        .peek(thread -> assertThat(thread.isDaemon()).isTrue())
        .count();
    assertThat(preparing).isLessThanOrEqualTo(1);
  }

  @Test
  void descriptorCallsDuplicateMoveAndCloseWithStrerrorsWords() throws Exception {
    // duplicates of standard input, whatever it is here
    int copy = NativeCalls.duplicate(0);
    assertThat(copy).isGreaterThan(2);
    // F_DUPFD_CLOEXEC: the duplicate is closed on exec
    assertThat(NativeCalls.descriptorFlags(copy) & 1).isEqualTo(1);
    int target = NativeCalls.duplicate(0);
    NativeCalls.close(target);
    assertThatThrownBy(() -> NativeCalls.descriptorFlags(target)).hasMessage("Bad file descriptor");
    NativeCalls.duplicateTo(copy, target);
    // dup3 without O_CLOEXEC: the moved descriptor stays open across exec
    assertThat(NativeCalls.descriptorFlags(target) & 1).isZero();
    NativeCalls.close(target);
    NativeCalls.close(copy);
    assertThatThrownBy(() -> NativeCalls.close(copy)).hasMessage("Bad file descriptor");
  }
}
