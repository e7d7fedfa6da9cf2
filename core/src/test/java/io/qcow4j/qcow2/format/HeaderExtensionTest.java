package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Header extension types from the spec, padding to 8 bytes, and value semantics. */
class HeaderExtensionTest {
  @Test
  void typesAreTheSpecsMagics() {
    assertThat(HeaderExtension.END).isZero();
    assertThat(HeaderExtension.BACKING_FORMAT).isEqualTo(0xe2792aca);
    assertThat(HeaderExtension.FEATURE_NAME_TABLE).isEqualTo(0x6803f857);
    assertThat(HeaderExtension.BITMAPS).isEqualTo(0x23852875);
    assertThat(HeaderExtension.FULL_DISK_ENCRYPTION).isEqualTo(0x0537be77);
    assertThat(HeaderExtension.EXTERNAL_DATA_FILE).isEqualTo(0x44415441);
  }

  @Test
  void encodedLengthPadsDataToEightBytes() {
    assertThat(new HeaderExtension(1, new byte[0]).encodedLength()).isEqualTo(8);
    assertThat(new HeaderExtension(1, new byte[1]).encodedLength()).isEqualTo(16);
    assertThat(new HeaderExtension(1, new byte[8]).encodedLength()).isEqualTo(16);
    assertThat(new HeaderExtension(1, new byte[9]).encodedLength()).isEqualTo(24);
    assertThat(new HeaderExtension(1, new byte[384]).encodedLength()).isEqualTo(392);
  }

  @Test
  void holdsItsOwnCopyOfTheData() {
    byte[] data = {1, 2, 3};
    HeaderExtension extension = new HeaderExtension(7, data);
    data[0] = 9;
    assertThat(extension.data()).containsExactly(1, 2, 3);
    extension.data()[1] = 9;
    assertThat(extension.data()).containsExactly(1, 2, 3);
  }

  @Test
  void equalsByTypeAndContent() {
    assertThat(new HeaderExtension(7, new byte[] {1, 2})).isEqualTo(new HeaderExtension(7, new byte[] {1, 2}))
        .hasSameHashCodeAs(new HeaderExtension(7, new byte[] {1, 2}));
    assertThat(new HeaderExtension(7, new byte[] {1, 2})).isNotEqualTo(new HeaderExtension(8, new byte[] {1, 2}));
    assertThat(new HeaderExtension(7, new byte[] {1, 2})).isNotEqualTo(new HeaderExtension(7, new byte[] {1, 3}));
    assertThat(new HeaderExtension(HeaderExtension.BACKING_FORMAT, new byte[5]).toString()).contains("0xe2792aca", "5");
  }
}
