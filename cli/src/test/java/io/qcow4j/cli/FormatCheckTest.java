package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qemu-img check of VDI and QED images (QEMU's vdi_co_check and qed_check), side by side with
 * qemu-img 7.2, human and JSON: images qemu-img made and qemu-io wrote check clean with QEMU's
 * cluster counts, and damaged copies (a VDI block named twice, one past the image, a wrong
 * allocated count; a QED cluster referenced twice, one past the end of the file, leaked clusters
 * at the end) report the same corruptions, leaks, messages and exit status.
 */
class FormatCheckTest {
  private static Path written(SideBySide runs, String format, String options) {
    Path image = TestImages.scratch().resolve("disk." + format);
    if (options == null) {
      Qemu.check("qemu-img", "create", "-q", "-f", format, image.toString(), "100M");
    } else {
      Qemu.check("qemu-img", "create", "-q", "-f", format, "-o", options, image.toString(), "100M");
    }
    Qemu.io(image, format, "write -P 0x11 0 1M", "write -P 0x22 5M 100k", "write -z 8M 2M", "write -P 0x33 9M 4k",
        "write -P 0x44 20M 3M", "discard 21M 1M", "write -P 0x55 99M 1M");
    return image;
  }

  private static void same(SideBySide runs, String file) {
    runs.run("qemu-img", "check", "@/" + file).same();
    runs.run("qemu-img", "check", "--output=json", "@/" + file).same();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"vdi|", "vdi|static=on", "qed|", "qed|cluster_size=4096",
      "qed|table_size=16", "vpc|", "qcow|"})
  void writtenImagesCheckAsQemuImgChecksThem(String format, String options) {
    SideBySide runs = new SideBySide();
    runs.copy(written(runs, format, options), "disk." + format);
    same(runs, "disk." + format);
  }

  @ParameterizedTest
  @ValueSource(strings = {"duplicate", "tooLarge", "count"})
  void damagedVdiReportsQemusCorruptions(String damage) throws IOException {
    SideBySide runs = new SideBySide();
    Path image = written(runs, "vdi", null);
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.WRITE)) {
      switch (damage) {
        case "duplicate" -> putInt(file, 0x200 + 7 * 4, 1);
        case "tooLarge" -> putInt(file, 0x200 + 9 * 4, 5000);
        default -> putInt(file, 0x184, 17);
      }
    }
    runs.copy(image, "disk.vdi");
    same(runs, "disk.vdi");
  }

  @ParameterizedTest
  @ValueSource(strings = {"twice", "pastEnd", "leaks", "l1PastEnd"})
  void damagedQedReportsQemusCorruptionsAndLeaks(String damage) throws IOException {
    SideBySide runs = new SideBySide();
    Path image = written(runs, "qed", null);
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long l2 = getLong(file, 65536);
      switch (damage) {
        case "twice" -> putLong(file, l2 + 3 * 8, getLong(file, l2));
        case "pastEnd" -> putLong(file, l2 + 4 * 8, 0x7fff0000L);
        case "leaks" -> file.truncate(file.size()).write(ByteBuffer.allocate(3 * 65536 + 100), file.size());
        default -> putLong(file, 65536 + 8, 0x7ff00000L);
      }
    }
    runs.copy(image, "disk.qed");
    same(runs, "disk.qed");
  }

  /**
   * qemu-img check -r (leaks or all: qed_check fixes what it can either way) on damaged QED
   * images: invalid L2 and L1 entries cleared and reported as fixed before the image is checked
   * again, clusters referenced twice and leaks left, unknown autoclear bits and the need-check bit
   * cleared; the same output, exit status and file bytes as qemu-img's.
   */
  @ParameterizedTest
  @CsvSource({"pastEnd,leaks", "pastEnd,all", "l1PastEnd,all", "twice,all", "leaks,leaks", "needCheck,all",
      "needCheck,leaks", "autoclear,all", "pastEndNeedCheck,all", "twiceNeedCheck,leaks", "clean,all"})
  void qedRepairsAsQemuImgRepairs(String damage, String mode) throws IOException {
    SideBySide runs = new SideBySide();
    Path image = written(runs, "qed", null);
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long l2 = getLong(file, 65536);
      if (damage.startsWith("pastEnd")) {
        putLong(file, l2 + 4 * 8, 0x7fff0000L);
      } else if (damage.startsWith("twice")) {
        putLong(file, l2 + 3 * 8, getLong(file, l2));
      } else if (damage.equals("l1PastEnd")) {
        putLong(file, 65536 + 8, 0x7ff00000L);
      } else if (damage.equals("leaks")) {
        file.write(ByteBuffer.allocate(3 * 65536 + 100), file.size());
      } else if (damage.equals("autoclear")) {
        putLong(file, 32, 5);
      }
      if (damage.endsWith("NeedCheck") || damage.equals("needCheck")) {
        putLong(file, 16, getLong(file, 16) | 2);
      }
    }
    runs.copy(image, "disk.qed");
    runs.run("qemu-img", "check", "-r", mode, "@/disk.qed").same();
    assertThat(Files.mismatch(runs.ours.resolve("disk.qed"), runs.theirs.resolve("disk.qed"))).isEqualTo(-1);
    runs.copy(image, "disk.qed");
    runs.run("qemu-img", "check", "-r", mode, "--output=json", "@/disk.qed").same();
    assertThat(Files.mismatch(runs.ours.resolve("disk.qed"), runs.theirs.resolve("disk.qed"))).isEqualTo(-1);
    if (!damage.equals("clean") && !damage.equals("twice") && !damage.equals("leaks")) {
      assertThat(Files.mismatch(runs.ours.resolve("disk.qed"), image)).as("the image was repaired").isNotEqualTo(-1);
    }
  }

  /**
   * qemu-img check -r on the formats whose check QEMU cannot run with repairs (vdi's refuses,
   * vpc, qcow and vmdk have none): the image opens read-write, then "does not support checks"
   * (63), the file unchanged; a damaged VDI the same.
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"vdi|", "vdi|static=on", "vpc|", "vpc|subformat=fixed", "qcow|",
      "vmdk|", "vdi|damaged"})
  void otherFormatsHaveNoCheckWithRepairs(String format, String options) throws IOException {
    SideBySide runs = new SideBySide();
    Path image = written(runs, format, "damaged".equals(options) ? null : options);
    if ("damaged".equals(options)) {
      try (FileChannel file = FileChannel.open(image, StandardOpenOption.WRITE)) {
        putInt(file, 0x200 + 7 * 4, 1);
      }
    }
    runs.copy(image, "disk." + format);
    for (String mode : new String[] {"leaks", "all"}) {
      runs.run("qemu-img", "check", "-r", mode, "@/disk." + format).same();
      runs.run("qemu-img", "check", "-r", mode, "--output=json", "@/disk." + format).same();
    }
    assertThat(Files.mismatch(runs.ours.resolve("disk." + format), image)).isEqualTo(-1);
  }

  /**
   * qemu-img check -r on clean VHDX images (no log to replay): QEMU's check result, the file
   * unchanged (the read-write open updates the headers only for a guest write or a replay).
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"vhdx|", "vhdx|subformat=fixed", "vhdx|block_size=1M,log_size=1M"})
  void cleanVhdxRepairsToNothing(String format, String options) throws IOException {
    SideBySide runs = new SideBySide();
    Path image = written(runs, format, options);
    runs.copy(image, "disk.vhdx");
    for (String mode : new String[] {"leaks", "all"}) {
      runs.run("qemu-img", "check", "-r", mode, "@/disk.vhdx").same();
      runs.run("qemu-img", "check", "-r", mode, "--output=json", "@/disk.vhdx").same();
    }
    assertThat(Files.mismatch(runs.ours.resolve("disk.vhdx"), image)).isEqualTo(-1);
  }

  /**
   * A damaged image opened read-write (qemu-io's default) fails with the format's own error, as
   * QEMU, which opens these formats read-write, reports it, before qcow4j's read-only refusal: a
   * QED table offset past the end, a VHD whose dynamic header lies past the end of the file (read
   * as zeros), a VHD block size of 0.
   */
  @ParameterizedTest
  @ValueSource(strings = {"qedTable", "vpcHeaderPastEnd", "vpcBlockSize"})
  void damagedImagesOpenedReadWriteFailAsQemuFails(String damage) throws IOException {
    SideBySide runs = new SideBySide();
    String format = damage.startsWith("qed") ? "qed" : "vpc";
    Path image = TestImages.scratch().resolve("disk." + format);
    Qemu.check("qemu-img", "create", "-q", "-f", format, image.toString(), "10M");
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      switch (damage) {
        case "qedTable" -> putLong(file, 40, 1L << 40);
        case "vpcHeaderPastEnd" -> vpcFooterField(file, 16, 1L << 40);
        default -> {
          ByteBuffer size = ByteBuffer.allocate(4);
          file.write(size, 512 + 32);
        }
      }
    }
    runs.copy(image, "disk." + format);
    runs.run("qemu-io", "-c", "read 0 512", "@/disk." + format).same();
    runs.run("qemu-io", "-f", format, "-c", "read 0 512", "@/disk." + format).same();
    runs.run("qemu-img", "info", "@/disk." + format).same();
  }

  /** Sets the big-endian 8-byte field at {@code at} of a dynamic VHD's footer copy at 0 and fixes its checksum. */
  private static void vpcFooterField(FileChannel file, int at, long value) throws IOException {
    ByteBuffer footer = ByteBuffer.allocate(512);
    file.read(footer, 0);
    footer.putLong(at, value).putInt(64, 0);
    int sum = 0;
    for (int i = 0; i < 512; i++) {
      sum += footer.get(i) & 0xff;
    }
    footer.putInt(64, ~sum);
    file.write(footer.rewind(), 0);
  }

  private static void putInt(FileChannel file, long at, int value) throws IOException {
    file.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, value), at);
  }

  private static void putLong(FileChannel file, long at, long value) throws IOException {
    file.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), at);
  }

  private static long getLong(FileChannel file, long at) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    file.read(bytes, at);
    return bytes.getLong(0);
  }
}
