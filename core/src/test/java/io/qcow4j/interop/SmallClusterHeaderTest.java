package io.qcow4j.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The first cluster of small-cluster images as qemu-img writes it: no feature name table for 4 KiB
 * clusters and less (it would fill a 512-byte cluster, leaving no room for the LUKS extension or a
 * backing file name), and a backing file name that does not fit refused with qemu-img's message.
 */
class SmallClusterHeaderTest {
  private static final String OBJECT = "secret,id=sec0,data=astrochicken";

  @TempDir Path dir;

  @ParameterizedTest(name = "cluster_size={0}")
  @ValueSource(ints = {512, 1024, 4096, 8192})
  void theHeaderClusterIsQemuImgs(int clusterSize) throws IOException {
    Path base = dir.resolve("base.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", base, "1M");
    Path theirs = dir.resolve("theirs.qcow2");
    Path ours = dir.resolve("ours.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + clusterSize, "-b", "base.qcow2",
        "-F", "qcow2", theirs, "1M");
    DiskImages.create(ours, ImageFormat.QCOW2, CreateOptions.builder(1 << 20).clusterSize(clusterSize)
        .backing("base.qcow2", ImageFormat.QCOW2).build()).close();
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
  }

  @ParameterizedTest(name = "cluster_size={0}")
  @ValueSource(ints = {512, 2048})
  void luksInSmallClustersIsMadeWrittenAndChecked(int clusterSize) throws IOException {
    Path image = dir.resolve("enc.qcow2");
    Encryption luks = new Encryption("luks", null, null, null, null, null, 10L,
        "astrochicken".getBytes(StandardCharsets.US_ASCII));
    try (DiskFile disk = DiskImages.create(image, ImageFormat.QCOW2, CreateOptions.builder(1 << 20)
        .clusterSize(clusterSize).encryption(luks).build())) {
      assertThat(disk.check(CheckResult.Repair.NONE).exitStatus()).isZero();
      disk.writeFully(ByteBuffer.wrap(new byte[] {9}), 0);
      disk.writeFully(ByteBuffer.wrap(new byte[] {9}), clusterSize);
      assertThat(disk.check(CheckResult.Repair.NONE).exitStatus()).isZero();
    }
    String spec = "driver=qcow2,file.filename=" + image + ",encrypt.key-secret=sec0";
    QemuTools.in(dir).img("check", "--object", OBJECT, "--image-opts", spec);
    QemuTools.in(dir).io("--object", OBJECT, "--image-opts", spec, "-c", "read -P 9 0 1",
        "-c", "read -P 9 " + clusterSize + " 1");
  }

  @Test
  void aBackingNameThatDoesNotFitIsRefusedAndTheFileRemoved() throws IOException {
    Path image = dir.resolve("long.qcow2");
    String name = "./".repeat(200) + "base.qcow2";
    assertThatThrownBy(() -> DiskImages.create(image, ImageFormat.QCOW2, CreateOptions.builder(1 << 20)
        .clusterSize(512).backing(name, ImageFormat.QCOW2).build()).close())
        .isInstanceOf(ImageLimitException.class)
        .hasMessage("Could not assign backing file '" + name + "' with format 'qcow2': No space left on device");
    // qcow2_co_create_opts deletes what it made
    assertThat(image).doesNotExist();
  }

  @Test
  void anOldTableInASmallClusterMakesWayForABackingName() throws IOException {
    Path image = dir.resolve("old.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", image, "1M");
    // what an older qcow4j made: a feature name table filling the rest of the first cluster
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", dir.resolve("big.qcow2"), "1M");
    byte[] big = Files.readAllBytes(dir.resolve("big.qcow2"));
    byte[] small = Files.readAllBytes(image);
    System.arraycopy(big, 112, small, 112, 400);
    Files.write(image, small);
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", dir.resolve("base.qcow2"), "1M");
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      disk.setBackingFile("base.qcow2", "qcow2");
    }
    QemuTools.in(dir).img("check", image);
    assertThat(QemuTools.in(dir).img("info", image).stdout()).contains("backing file: base.qcow2");
  }
}
