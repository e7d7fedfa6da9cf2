package io.qcow4j.cli;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Block status of a raw file whose length is not whole sectors, side by side with qemu-img map
 * (iotest 253): with cache.direct=on QEMU's file driver rounds the data extent that ends in the last
 * partial sector up to its request alignment, so the disk's last sector is all data; without it
 * the byte past the end of the file is a zero extent of its own.
 */
class RawDirectMapTest {

  @ParameterizedTest
  @CsvSource({"on, 1048575", "off, 1048575", "on, 1048577", "off, 1048577", "on, 1048576"})
  void unalignedRawFileMapsLikeQemuImg(String direct, long size) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/image.raw", Long.toString(size)).same();
    both.run("qemu-io", "-f", "raw", "-c", "write 983040 " + (size - 983040), "@/image.raw").same();
    truncate(both, size);
    both.run("qemu-img", "map", "--output=json", "--image-opts",
        "driver=raw,file.driver=file,file.filename=@/image.raw,cache.direct=" + direct).same();
    both.run("qemu-img", "map", "--output=json", "--image-opts",
        "driver=raw,file.driver=file,file.filename=@/image.raw,cache.direct=" + direct, "--start-offset", "1M")
        .same();
  }

  /** Cuts both files back to {@code size} (a write of the last partial sector may have grown them). */
  private static void truncate(SideBySide both, long size) {
    for (java.nio.file.Path dir : new java.nio.file.Path[] {both.theirs, both.ours}) {
      try (RandomAccessFile file = new RandomAccessFile(dir.resolve("image.raw").toFile(), "rw")) {
        file.setLength(size);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
