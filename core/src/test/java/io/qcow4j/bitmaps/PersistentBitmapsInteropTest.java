package io.qcow4j.bitmaps;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.BitmapException;
import io.qcow4j.disk.DirtyBitmap;
import io.qcow4j.disk.DirtyRange;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persistent dirty bitmaps against QEMU 7.2: bitmaps qemu-img made, written by qemu-io and by us,
 * read back by qemu-img info (consistent, not in use) and by qemu-nbd's dirty-bitmap context.
 */
class PersistentBitmapsInteropTest {
  private static final long MIB = 1 << 20;
  @TempDir Path dir;

  private QemuTools tools() {
    return QemuTools.in(dir);
  }

  /** qemu-nbd's view of a bitmap: "offset length dirty" lines of nbdinfo --map. */
  private String qemuMap(String image, String bitmap) {
    QemuTools.Result result = tools().runChecked(0, "nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap, "--", "[",
        "qemu-nbd", "-r", "-f", "qcow2", "-B", bitmap, image, "]");
    return result.stdout();
  }

  private static String expectedMap(long size, long[]... dirty) {
    StringBuilder out = new StringBuilder();
    long cursor = 0;
    for (long[] range : dirty) {
      if (range[0] > cursor) {
        out.append(line(cursor, range[0] - cursor, false));
      }
      out.append(line(range[0], range[1], true));
      cursor = range[0] + range[1];
    }
    if (cursor < size) {
      out.append(line(cursor, size - cursor, false));
    }
    return out.toString();
  }

  private static String line(long offset, long length, boolean dirty) {
    return String.format("%10d  %10d    %d  %s%n", offset, length, dirty ? 1 : 0, dirty ? "dirty" : "clean");
  }

  private Path image() {
    tools().img("create", "-q", "-f", "qcow2", "img.qcow2", "16M");
    tools().img("bitmap", "--add", "img.qcow2", "b0");
    tools().img("bitmap", "--add", "-g", "4k", "img.qcow2", "fine");
    tools().img("bitmap", "--add", "--disable", "img.qcow2", "off");
    tools().io("-c", "write 1M 4k", "img.qcow2");
    return dir.resolve("img.qcow2");
  }

  private static void write(QcowFile file, long offset, int length) throws IOException {
    file.write(ByteBuffer.allocate(length), offset);
  }

  @Test
  void ourWritesAreRecordedAsQemuRecordsThem() throws IOException {
    Path image = image();
    try (QcowFile file = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      write(file, 3 * MIB + 100, 10);
      file.writeZeroes(8 * MIB, 70_000);
      file.discard(12 * MIB, 64 * 1024);
      // In use on disk while open: a crash now leaves them inconsistent.
      String info = tools().img("info", "-U", "--output=json", "img.qcow2").stdout();
      assertThat(info).contains("in-use");
    }
    String info = tools().img("info", "img.qcow2").stdout();
    assertThat(info).doesNotContain("in-use");
    assertThat(qemuMap("img.qcow2", "b0")).isEqualTo(expectedMap(16 * MIB, new long[] {MIB, 65536},
        new long[] {3 * MIB, 65536}, new long[] {8 * MIB, 131072}, new long[] {12 * MIB, 65536}));
    assertThat(qemuMap("img.qcow2", "fine")).isEqualTo(expectedMap(16 * MIB, new long[] {MIB, 4096},
        new long[] {3 * MIB, 4096}, new long[] {8 * MIB, 73728}, new long[] {12 * MIB, 65536}));
    assertThat(qemuMap("img.qcow2", "off")).isEqualTo(expectedMap(16 * MIB));
    tools().img("check", "img.qcow2");
    // And qemu-io's writes after ours still land in the same bitmap.
    tools().io("-c", "write 15M 1", "img.qcow2");
    assertThat(qemuMap("img.qcow2", "b0")).contains(line(15 * MIB, 65536, true));
  }

  @Test
  void aReadWriteOpenThatIsKilledLeavesThemInUse() throws Exception {
    Path image = image();
    // A second JVM would be the real kill; here the file is copied while we hold it open.
    try (QcowFile file = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      write(file, 0, 512);
      file.flush();
      java.nio.file.Files.copy(image, dir.resolve("crash.qcow2"));
    }
    String info = tools().img("info", "--output=json", "crash.qcow2").stdout();
    assertThat(info.split("in-use", -1)).as("three bitmaps in use").hasSize(4);
    tools().runChecked(0, "qemu-img", "check", "crash.qcow2");
  }

  @Test
  void libraryOperationsAreReadByQemu() throws IOException {
    Path image = image();
    try (QcowFile file = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      assertThat(file.dirtyBitmaps()).containsExactly(new DirtyBitmap("b0", 65536, true, true),
          new DirtyBitmap("fine", 4096, true, true), new DirtyBitmap("off", 65536, false, true));
      assertThat(file.dirtyRanges("fine", 0, 16 * MIB)).containsExactly(new DirtyRange(MIB, 4096));
      file.addBitmap("new", 0, true);
      file.addBitmap("cold", 1 << 20, false);
      assertThatThrownBy(() -> file.addBitmap("b0", 0, true)).isInstanceOf(BitmapException.class)
          .hasMessage("Bitmap already exists: b0");
      file.removeBitmap("fine");
      assertThatThrownBy(() -> file.clearBitmap("fine")).hasMessage("Dirty bitmap 'fine' not found");
      write(file, 2 * MIB, 1);
      file.clearBitmap("b0");
      write(file, 4 * MIB, 1);
      file.mergeBitmap("off", file, "new");
      file.enableBitmap("cold");
      write(file, 6 * MIB, 1);
      assertThat(file.dirtyRanges("new", 0, 16 * MIB)).containsExactly(new DirtyRange(2 * MIB, 65536),
          new DirtyRange(4 * MIB, 65536), new DirtyRange(6 * MIB, 65536));
    }
    assertThat(qemuMap("img.qcow2", "b0")).isEqualTo(expectedMap(16 * MIB, new long[] {4 * MIB, 65536},
        new long[] {6 * MIB, 65536}));
    assertThat(qemuMap("img.qcow2", "off")).isEqualTo(expectedMap(16 * MIB, new long[] {2 * MIB, 65536},
        new long[] {4 * MIB, 65536}));
    assertThat(qemuMap("img.qcow2", "cold")).isEqualTo(expectedMap(16 * MIB, new long[] {6 * MIB, MIB}));
    String info = tools().img("info", "img.qcow2").stdout();
    assertThat(info).doesNotContain("fine").doesNotContain("in-use");
    tools().img("check", "img.qcow2");
    try (QcowFile file = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(file.dirtyBitmaps()).extracting(DirtyBitmap::name).containsExactly("b0", "off", "new", "cold");
      assertThat(file.dirtyBitmaps().get(3)).isEqualTo(new DirtyBitmap("cold", MIB, true, true));
    }
  }

  @Test
  void inUseBitmapsAreNeverTrustedOnlyRemoved() throws Exception {
    Path image = image();
    try (QcowFile file = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      write(file, 0, 1);
      file.flush();
      java.nio.file.Files.copy(image, dir.resolve("crash.qcow2"));
    }
    try (QcowFile file = QcowFile.open(dir.resolve("crash.qcow2"), OpenOptions.readWriteDefaults())) {
      assertThat(file.dirtyBitmaps()).extracting(DirtyBitmap::consistent).containsOnly(false);
      assertThatThrownBy(() -> file.dirtyRanges("b0", 0, MIB)).isInstanceOf(BitmapException.class)
          .hasMessage("Bitmap 'b0' is inconsistent and cannot be used");
      write(file, 5 * MIB, 1);
      file.removeBitmap("b0");
    }
    String info = tools().img("info", "--output=json", "crash.qcow2").stdout();
    assertThat(info).doesNotContain("\"b0\"").contains("in-use");
    tools().img("check", "crash.qcow2");
  }

  @Test
  void bitmapsAWriterWithoutSupportInvalidatedAreDroppedAsQemuDropsThem() throws IOException {
    image();
    // autoclear bit 0 cleared, as a program without bitmap support leaves it
    try (java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(dir.resolve("img.qcow2"),
        java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
      file.write(ByteBuffer.wrap(new byte[] {0}), 95);
    }
    java.nio.file.Files.copy(dir.resolve("img.qcow2"), dir.resolve("theirs.qcow2"));
    assertThat(tools().img("info", "img.qcow2").stderr()).contains("a program lacking bitmap support");
    try (QcowFile file = QcowFile.open(dir.resolve("img.qcow2"), OpenOptions.readWriteDefaults())) {
      write(file, 0, 512);
    }
    tools().io("-c", "write 0 512", "theirs.qcow2");
    QemuTools.Result ours = tools().img("info", "img.qcow2");
    assertThat(ours.stderr()).isEmpty();
    assertThat(ours.stdout()).doesNotContain("bitmaps");
    String theirCheck = tools().run(java.time.Duration.ofSeconds(60), "qemu-img", "check", "theirs.qcow2").stdout();
    String ourCheck = tools().run(java.time.Duration.ofSeconds(60), "qemu-img", "check", "img.qcow2").stdout();
    assertThat(ourCheck).isEqualTo(theirCheck).contains("leaked clusters");
  }

  @Test
  void noBitmapsNoExtension() throws IOException {
    tools().img("create", "-q", "-f", "qcow2", "plain.qcow2", "1M");
    try (QcowFile file = QcowFile.open(dir.resolve("plain.qcow2"), OpenOptions.readWriteDefaults())) {
      write(file, 0, 1);
      file.addBitmap("x", 0, true);
      file.removeBitmap("x");
    }
    assertThat(tools().img("info", "plain.qcow2").stdout()).doesNotContain("bitmaps");
    tools().img("check", "plain.qcow2");
  }
}
