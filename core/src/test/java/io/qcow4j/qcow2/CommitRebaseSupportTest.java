package io.qcow4j.qcow2;

import static io.qcow4j.testing.QemuTools.qemuImg;
import static io.qcow4j.testing.QemuTools.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Engine support for commit and rebase (header rewrites, emptying a layer), checked with qemu-img. */
class CommitRebaseSupportTest {
  @TempDir Path dir;

  @Test
  void aSnapshotTableThatEndsTheFileWithoutItsPaddingOpens() throws IOException {
    // qemu-img snapshot -c writes the table at the end of the file and leaves the last entry's padding out
    Path image = dir.resolve("snapshot-last.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", image, "1M");
    qemuIo("-c", "write -P 4 0 64k", image);
    qemuImg("snapshot", "-c", "s1", image);
    assertThat(Files.size(image) % 8).isNotZero();
    try (QcowFile file = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(file.snapshots()).singleElement().satisfies(snapshot -> assertThat(snapshot.name()).isEqualTo("s1"));
    }
  }
}
