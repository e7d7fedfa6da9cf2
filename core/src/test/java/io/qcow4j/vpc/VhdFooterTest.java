package io.qcow4j.vpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The virtual size of a VHD as QEMU 7.2's vpc_open computes it from the footer. */
class VhdFooterTest {
  /** A footer with the given creator and CHS geometry and a current size of 600 MiB (1228800 sectors). */
  private static byte[] footer(String creatorApp, int cylinders, int heads, int sectors) {
    ByteBuffer bytes = ByteBuffer.allocate(VhdFooter.SIZE);
    bytes.put(0, "conectix".getBytes(StandardCharsets.US_ASCII));
    bytes.put(28, creatorApp.getBytes(StandardCharsets.ISO_8859_1));
    bytes.putLong(48, 600L << 20);
    bytes.putShort(56, (short) cylinders);
    bytes.put(58, (byte) heads);
    bytes.put(59, (byte) sectors);
    bytes.putInt(60, (int) VhdFooter.FIXED);
    bytes.putInt(64, (int) VhdFooter.checksum(bytes.array(), 0, VhdFooter.SIZE, 64));
    return bytes.array();
  }

  @ParameterizedTest(name = "creator \"{0}\"")
  @CsvSource(delimiter = '|', value = {
      "'vpc '|1008000", "qemu|1008000", "wxyz|1008000",
      "'win '|1228800", "qem2|1228800", "'d2v '|1228800", "CTXS|1228800", "tap\u0000|1228800"})
  void theCreatorApplicationDecidesBetweenGeometryAndCurrentSize(String creator, long sectors) {
    VhdFooter footer = VhdFooter.decode(footer(creator, 1000, 16, 63));
    assertThat(footer.checksumValid()).isTrue();
    assertThat(footer.virtualSectors()).isEqualTo(sectors);
  }

  @ParameterizedTest(name = "creator \"{0}\"")
  @CsvSource({"'vpc '", "qemu"})
  void theLargestGeometryMeansTheCurrentSize(String creator) {
    VhdFooter footer = VhdFooter.decode(footer(creator, 65535, 16, 255));
    assertThat(footer.virtualSectors()).isEqualTo((600L << 20) / 512);
  }

  @ParameterizedTest(name = "creator \"{0}\", force_size_calc {1}")
  @CsvSource(delimiter = '|', value = {
      "'vpc '|CHS|1008000", "'vpc '|CURRENT_SIZE|1228800", "'vpc '|AUTO|1008000",
      "'win '|CHS|1008000", "'win '|CURRENT_SIZE|1228800", "qem2|CHS|1008000", "tap\u0000|CHS|1008000"})
  void forceSizeCalcOverridesTheCreator(String creator, VhdFooter.SizeCalc calc, long sectors) {
    assertThat(VhdFooter.decode(footer(creator, 1000, 16, 63)).virtualSectors(calc)).isEqualTo(sectors);
  }

  @ParameterizedTest(name = "force_size_calc {0}")
  @CsvSource({"CHS", "CURRENT_SIZE", "AUTO"})
  void theLargestGeometryMeansTheCurrentSizeInEveryMode(VhdFooter.SizeCalc calc) {
    assertThat(VhdFooter.decode(footer("vpc ", 65535, 16, 255)).virtualSectors(calc)).isEqualTo((600L << 20) / 512);
  }

  @ParameterizedTest(name = "\"{0}\"")
  @CsvSource(delimiter = '|', value = {"chs|CHS", "current_size|CURRENT_SIZE"})
  void theOptionWordsNameTheModes(String word, VhdFooter.SizeCalc calc) {
    assertThat(VhdFooter.SizeCalc.parse(word)).isEqualTo(calc);
    assertThat(VhdFooter.SizeCalc.parse(null)).isEqualTo(VhdFooter.SizeCalc.AUTO);
    assertThat(VhdFooter.SizeCalc.parse("CHS")).isNull();
  }

  @ParameterizedTest(name = "byte {0}")
  @CsvSource({"0", "28", "48", "63", "68", "511"})
  void aChangedByteBreaksTheChecksum(int offset) {
    byte[] bytes = footer("vpc ", 1000, 16, 63);
    bytes[offset] ^= 1;
    assertThat(VhdFooter.decode(bytes).checksumValid()).isEqualTo(false);
  }
}
