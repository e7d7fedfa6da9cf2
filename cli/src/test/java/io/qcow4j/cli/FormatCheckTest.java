package io.qcow4j.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
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
