package io.qcow4j.bitmaps;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CheckFailedException;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * check over damaged bitmap structures, against qemu-img check: the same corruptions and leaks,
 * and after -r all (ours on one copy, qemu-img's on another) the same verdict.
 */
class BitmapCheckTest {
  @org.junit.jupiter.api.io.TempDir Path dir;

  /** The directory entries and each bitmap's table, read from the file. */
  private record Layout(long directoryOffset, List<BitmapDirectoryCodec.Entry> entries) {}

  private static Layout layout(Path image) throws IOException {
    try (FileChannel file = FileChannel.open(image)) {
      ByteBuffer header = ByteBuffer.allocate(4096);
      file.read(header, 0);
      int at = header.getInt(100);
      while (at + 8 <= 4096) {
        int type = header.getInt(at);
        int length = header.getInt(at + 4);
        if (type == 0x23852875) {
          int count = header.getInt(at + 8);
          long size = header.getLong(at + 16);
          long offset = header.getLong(at + 24);
          ByteBuffer directory = ByteBuffer.allocate((int) size);
          file.read(directory, offset);
          return new Layout(offset, BitmapDirectoryCodec.decode(image.toString(), directory.flip(), offset, count));
        }
        at += 8 + ((length + 7) & ~7);
      }
    }
    throw new AssertionError("no bitmaps extension in " + image);
  }

  private static long u64(Path image, long offset) throws IOException {
    try (FileChannel file = FileChannel.open(image)) {
      ByteBuffer value = ByteBuffer.allocate(8);
      file.read(value, offset);
      return value.getLong(0);
    }
  }

  private static void putU64(Path image, long offset, long value) throws IOException {
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.WRITE)) {
      file.write(ByteBuffer.allocate(8).putLong(0, value), offset);
    }
  }

  private static long count(String json, String key) {
    Matcher matcher = Pattern.compile("\"" + key + "\": (\\d+)").matcher(json);
    return matcher.find() ? Long.parseLong(matcher.group(1)) : 0;
  }

  @ParameterizedTest
  @ValueSource(strings = {"clean", "leaked-data-cluster", "data-cluster-twice", "invalid-table-entry",
      "invalid-table-entry-in-use", "table-into-l1"})
  void checksAndRepairsAsQemuImg(String damage) throws IOException {
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", "img.qcow2", "64M");
    tools.img("bitmap", "--add", "img.qcow2", "a");
    tools.img("bitmap", "--add", "-g", "512", "img.qcow2", "b");
    tools.io("-c", "write 1M 64k", "-c", "write 40M 4k", "img.qcow2");
    Path image = dir.resolve("img.qcow2");
    Layout layout = layout(image);
    BitmapDirectoryCodec.Entry a = layout.entries().get(0);
    BitmapDirectoryCodec.Entry b = layout.entries().get(1);
    long aData = u64(image, a.tableOffset());
    assertThat(aData).isNotZero();
    switch (damage) {
      case "leaked-data-cluster" -> putU64(image, a.tableOffset(), 0);
      case "data-cluster-twice" -> putU64(image, b.tableOffset() + 8, aData);
      case "invalid-table-entry" -> putU64(image, b.tableOffset(), u64(image, b.tableOffset()) | 2);
      case "invalid-table-entry-in-use" -> {
        // an in-use bitmap is never loaded: QEMU opens the image, and check counts the entry
        putU64(image, b.tableOffset(), u64(image, b.tableOffset()) | 2);
        long bFlags = layout.directoryOffset() + 32 + 8;
        putU64(image, bFlags, u64(image, bFlags) | 1);
      }
      case "table-into-l1" -> putU64(image, layout.directoryOffset(), u64(image, 48));
      default -> { }
    }
    Files.copy(image, dir.resolve("theirs.qcow2"));
    QemuTools.Result theirs = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "--output=json", "img.qcow2");
    if (damage.equals("invalid-table-entry")) {
      // neither opens the image, read-only or read-write: QEMU's open loads every consistent bitmap
      assertThat(theirs.exitCode()).isEqualTo(1);
      assertThat(theirs.stderr()).contains("Could not read bitmap_table table from image for bitmap 'b'");
      String expected = "Could not read bitmap_table table from image for bitmap 'b': entry 0 is invalid";
      assertThatThrownBy(() -> QcowFile.check(image, CheckResult.Repair.NONE))
          .isInstanceOf(CorruptImageException.class).hasMessageContaining(expected);
      assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readOnlyDefaults()).close())
          .isInstanceOf(CorruptImageException.class).hasMessageContaining(expected);
      assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readWriteDefaults()).close())
          .isInstanceOf(CorruptImageException.class).hasMessageContaining(expected);
      assertThat(tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "info", "img.qcow2").exitCode()).isEqualTo(1);
      return;
    }
    if (damage.equals("invalid-table-entry-in-use")) {
      // both open it (an in-use bitmap is not loaded), and both checks stop at the table
      assertThat(theirs.exitCode()).isEqualTo(1);
      assertThat(theirs.stderr()).contains("Check failed: Invalid argument");
      assertThatThrownBy(() -> QcowFile.check(image, CheckResult.Repair.ALL))
          .isInstanceOfSatisfying(CheckFailedException.class, e -> assertThat(e.reason()).isEqualTo("Invalid argument"))
          .hasMessageContaining("bitmap 'b' table entry 0 (at offset " + b.tableOffset() + ") is invalid");
      QcowFile.open(image, OpenOptions.readWriteDefaults()).close();
      assertThat(tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "info", "img.qcow2").exitCode()).isZero();
      return;
    }
    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    assertThat(Map.of("corruptions", ours.corruptions(), "leaks", ours.leaks())).as(theirs.stdout() + ours.messages())
        .isEqualTo(Map.of("corruptions", count(theirs.stdout(), "corruptions"), "leaks", count(theirs.stdout(), "leaks")));
    assertThat(ours.exitStatus()).isEqualTo(theirs.exitCode());

    tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "-r", "all", "theirs.qcow2");
    QcowFile.check(image, CheckResult.Repair.ALL);
    QemuTools.Result afterTheirs = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "--output=json",
        "theirs.qcow2");
    QemuTools.Result afterOurs = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "--output=json",
        "img.qcow2");
    assertThat(afterOurs.exitCode()).as(afterOurs.stdout()).isEqualTo(afterTheirs.exitCode());
    assertThat(count(afterOurs.stdout(), "corruptions")).isEqualTo(count(afterTheirs.stdout(), "corruptions"));
    assertThat(count(afterOurs.stdout(), "leaks")).isEqualTo(count(afterTheirs.stdout(), "leaks"));
  }
}
