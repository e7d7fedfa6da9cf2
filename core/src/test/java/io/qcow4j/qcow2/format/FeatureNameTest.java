package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.qcow2.format.Features.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The feature bits and the feature-name table extension (48-byte entries: type, bit, 46-byte name). */
class FeatureNameTest {
  private static final List<FeatureName> QEMU_TABLE = List.of(
      new FeatureName(Kind.INCOMPATIBLE, 0, "dirty bit"),
      new FeatureName(Kind.INCOMPATIBLE, 1, "corrupt bit"),
      new FeatureName(Kind.INCOMPATIBLE, 2, "external data file"),
      new FeatureName(Kind.INCOMPATIBLE, 3, "compression type"),
      new FeatureName(Kind.INCOMPATIBLE, 4, "extended L2 entries"),
      new FeatureName(Kind.COMPATIBLE, 0, "lazy refcounts"),
      new FeatureName(Kind.AUTOCLEAR, 0, "bitmaps"),
      new FeatureName(Kind.AUTOCLEAR, 1, "raw external data"));

  @TempDir Path dir;

  @Test
  void featureBitsAreTheSpecsBits() {
    assertThat(Features.INCOMPAT_DIRTY).isEqualTo(1L << 0);
    assertThat(Features.INCOMPAT_CORRUPT).isEqualTo(1L << 1);
    assertThat(Features.INCOMPAT_DATA_FILE).isEqualTo(1L << 2);
    assertThat(Features.INCOMPAT_COMPRESSION_TYPE).isEqualTo(1L << 3);
    assertThat(Features.INCOMPAT_EXTENDED_L2).isEqualTo(1L << 4);
    assertThat(Features.INCOMPAT_KNOWN).isEqualTo(0x1fL);
    assertThat(Features.COMPAT_LAZY_REFCOUNTS).isEqualTo(1L << 0);
    assertThat(Features.AUTOCLEAR_BITMAPS).isEqualTo(1L << 0);
    assertThat(Features.AUTOCLEAR_DATA_FILE_RAW).isEqualTo(1L << 1);
    assertThat(Features.AUTOCLEAR_KNOWN).isEqualTo(0x3L);
    // The table's type byte: 0 incompatible, 1 compatible, 2 autoclear.
    assertThat(Kind.INCOMPATIBLE.ordinal()).isZero();
    assertThat(Kind.COMPATIBLE.ordinal()).isEqualTo(1);
    assertThat(Kind.AUTOCLEAR.ordinal()).isEqualTo(2);
  }

  @Test
  void decodesTheTableQemuWrites() throws IOException {
    Path image = QemuFixtures.create(dir, "v3.qcow2", "", "1M");
    byte[] data = QemuFixtures.header(image).extension(HeaderExtension.FEATURE_NAME_TABLE).orElseThrow().data();

    assertThat(data).hasSize(QEMU_TABLE.size() * 48);
    assertThat(FeatureName.decodeTable(data)).containsExactlyElementsOf(QEMU_TABLE);
  }

  @Test
  void encodesTheSameTableAsQemu() throws IOException {
    Path image = QemuFixtures.create(dir, "v3.qcow2", "", "1M");
    byte[] data = QemuFixtures.header(image).extension(HeaderExtension.FEATURE_NAME_TABLE).orElseThrow().data();

    assertThat(FeatureName.encodeKnownTable()).isEqualTo(data);
  }

  @Test
  void knownNamesAreQemuNames() {
    for (FeatureName entry : QEMU_TABLE) {
      assertThat(Features.knownName(entry.kind(), entry.bit())).isEqualTo(entry.name());
    }
    assertThat(Features.knownName(Kind.INCOMPATIBLE, 5)).isNull();
    assertThat(Features.knownName(Kind.COMPATIBLE, 1)).isNull();
    assertThat(Features.knownName(Kind.AUTOCLEAR, 2)).isNull();
    assertThat(Features.knownName(Kind.INCOMPATIBLE, 63)).isNull();
  }

  @Test
  void fullLengthNameNeedsNoTerminator() {
    String name = "n".repeat(46);
    byte[] table = entry(0, 63, name.getBytes(StandardCharsets.UTF_8));
    assertThat(FeatureName.decodeTable(table)).containsExactly(new FeatureName(Kind.INCOMPATIBLE, 63, name));
  }

  @Test
  void nameEndsAtTheFirstZeroByte() {
    byte[] table = entry(1, 9, "future\0garbage".getBytes(StandardCharsets.UTF_8));
    assertThat(FeatureName.decodeTable(table)).containsExactly(new FeatureName(Kind.COMPATIBLE, 9, "future"));
  }

  @Test
  void bitNumberIsUnsignedByte() {
    byte[] table = entry(2, 200, "odd".getBytes(StandardCharsets.UTF_8));
    assertThat(FeatureName.decodeTable(table)).containsExactly(new FeatureName(Kind.AUTOCLEAR, 200, "odd"));
  }

  @Test
  void skipsUnknownTypesAndReadsATrailingPartialEntryZeroPaddedAsQemuDoes() {
    byte[] unknownType = entry(3, 0, "from the future".getBytes(StandardCharsets.UTF_8));
    byte[] known = entry(0, 6, "six".getBytes(StandardCharsets.UTF_8));
    byte[] table = new byte[48 * 2 + 20];
    System.arraycopy(unknownType, 0, table, 0, 48);
    System.arraycopy(known, 0, table, 48, 48);
    table[96] = 0;
    table[97] = 7;
    table[98] = 'x';

    // QEMU reads the extension into a zeroed buffer of whole entries: the cut entry counts
    assertThat(FeatureName.decodeTable(table)).containsExactly(new FeatureName(Kind.INCOMPATIBLE, 6, "six"),
        new FeatureName(Kind.INCOMPATIBLE, 7, "x"));
    assertThat(FeatureName.decodeTable(new byte[0])).isEmpty();
    assertThat(FeatureName.decodeTable(new byte[47])).isEmpty();
  }

  @Test
  void encodedTableIsPaddedWithZeros() {
    byte[] table = FeatureName.encodeKnownTable();
    assertThat(table.length % 48).isZero();
    for (int at = 0; at < table.length; at += 48) {
      byte[] name = Arrays.copyOfRange(table, at + 2, at + 48);
      int end = 0;
      while (end < name.length && name[end] != 0) {
        end++;
      }
      for (int rest = end; rest < name.length; rest++) {
        assertThat(name[rest]).as("padding of entry at %d", at).isZero();
      }
    }
  }

  private static byte[] entry(int type, int bit, byte[] name) {
    byte[] entry = new byte[48];
    entry[0] = (byte) type;
    entry[1] = (byte) bit;
    System.arraycopy(name, 0, entry, 2, Math.min(name.length, 46));
    return entry;
  }
}
