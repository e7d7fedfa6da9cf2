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

  private Map<String, Object> info(Path image) {
    return Json.parseObject(qemuImg("info", "--output=json", "-U", image).stdout());
  }

  @Test
  void backingNameAndFormatAreRewrittenAndQemuReadsThem() throws IOException {
    Path base = dir.resolve("base.qcow2");
    Path other = dir.resolve("other-base-with-a-longer-name.raw");
    Path overlay = dir.resolve("overlay.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base, "1M");
    qemuImg("create", "-q", "-f", "raw", other, "1M");
    qemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay);
    qemuIo("-c", "write -P 9 0 64k", overlay);

    try (QcowFile image = QcowFile.open(overlay, OpenOptions.readWriteDefaults().withBackingPolicy(
        io.qcow4j.disk.BackingPolicy.IGNORE))) {
      image.setBackingFile(other.getFileName().toString(), "raw");
      assertThat(image.header().backingFile()).isEqualTo(other.getFileName().toString());
      assertThat(image.header().backingFormat()).contains("raw");
    }
    Map<String, Object> info = info(overlay);
    assertThat(info.get("backing-filename")).isEqualTo(other.getFileName().toString());
    assertThat(info.get("backing-filename-format")).isEqualTo("raw");
    qemuImg("check", overlay);
    qemuIo("-r", "-c", "read -P 9 0 64k", "-c", "read -P 0 64k 64k", overlay);

    try (QcowFile image = QcowFile.open(overlay, OpenOptions.readWriteDefaults())) {
      image.setBackingFile("base.qcow2", null);
    }
    info = info(overlay);
    assertThat(info.get("backing-filename")).isEqualTo("base.qcow2");
    assertThat(info).doesNotContainKey("backing-filename-format");

    try (QcowFile image = QcowFile.open(overlay, OpenOptions.readWriteDefaults())) {
      image.setBackingFile(null, null);
      assertThat(image.header().backingFile()).isNull();
    }
    assertThat(info(overlay)).doesNotContainKey("backing-filename");
    qemuImg("check", overlay);
  }

  @Test
  void aNameThatDoesNotFitIsRefusedAndNothingIsWritten() throws IOException {
    Path image = dir.resolve("small-clusters.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", image, "1M");
    byte[] before = Files.readAllBytes(image);
    try (QcowFile file = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> file.setBackingFile("b".repeat(400), "qcow2"))
          .isInstanceOf(ImageLimitException.class).hasMessageContaining("first cluster");
      assertThatThrownBy(() -> file.setBackingFile("b".repeat(1024), null))
          .isInstanceOf(ImageLimitException.class).hasMessageContaining("1023");
    }
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
  }

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

  @Test
  void makeEmptyLeavesNothingAllocatedAndTheBackingShowsThrough() throws IOException {
    Path base = dir.resolve("base.qcow2");
    Path overlay = dir.resolve("overlay.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base, "4M");
    qemuIo("-c", "write -P 1 0 4M", base);
    qemuImg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-b", "base.qcow2", "-F", "qcow2", overlay);
    qemuIo("-c", "write -P 2 0 100k", "-c", "write -z 1M 64k", "-c", "write -P 3 3M 7k", overlay);
    qemuImg("snapshot", "-c", "s1", overlay);
    try (QcowFile image = QcowFile.open(overlay, OpenOptions.readWriteDefaults())) {
      image.makeEmpty();
    }
    qemuImg("check", overlay);
    String map = qemuImg("map", "--output=json", overlay).stdout();
    assertThat(Json.parseObjectList(map)).allSatisfy(entry -> assertThat(entry.get("depth")).isEqualTo(1L));
    qemuImg("compare", overlay, base);
  }

  @Test
  void growingAnOverlayOverALongerBackingFileReadsZerosLikeQemuImgResize() throws IOException {
    Path base = dir.resolve("long-base.qcow2");
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base, "4M");
    qemuIo("-c", "write -P 1 0 4M", base);
    for (Path overlay : new Path[] {ours, theirs}) {
      qemuImg("create", "-q", "-f", "qcow2", "-b", base.getFileName(), "-F", "qcow2", overlay, "1M");
    }
    qemuImg("resize", "-q", theirs, "3M");
    try (QcowFile image = QcowFile.open(ours, OpenOptions.readWriteDefaults())) {
      image.resize(3 << 20);
    }
    qemuIo("-r", "-c", "read -P 1 0 1M", "-c", "read -P 0 1M 2M", ours);
    qemuImg("compare", ours, theirs);
    qemuImg("check", ours);
  }
}
