package io.qcow4j.vmdk.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The descriptor read as QEMU 7.2's vmdk.c reads it: first occurrences, sscanf-like extent lines. */
class DescriptorTest {
  private static Descriptor of(String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    return Descriptor.of(bytes, bytes.length, "d.vmdk");
  }

  @Test
  void readsTheFieldsQemuWrites() throws Exception {
    Descriptor descriptor = of("# Disk DescriptorFile\nversion=1\nCID=91eaa184\nparentCID=ffffffff\n"
        + "createType=\"twoGbMaxExtentSparse\"\nparentFileNameHint=\"base disk.vmdk\"\n\n# Extent description\n"
        + "RW 4192256 SPARSE \"disk-s001.vmdk\"\nRW 8192 SPARSE \"disk-s002.vmdk\"\n");
    assertThat(descriptor.cid(false)).isEqualTo(0x91eaa184L);
    assertThat(descriptor.cid(true)).isEqualTo(0xffffffffL);
    assertThat(descriptor.createType()).isEqualTo("twoGbMaxExtentSparse");
    assertThat(descriptor.parentFileNameHint()).isEqualTo("base disk.vmdk");
    assertThat(descriptor.extents(10)).containsExactly(
        new ExtentLine("RW", 4192256, "SPARSE", "disk-s001.vmdk", 0),
        new ExtentLine("RW", 8192, "SPARSE", "disk-s002.vmdk", 0));
  }

  @Test
  void extentLinesFollowQemusPattern() throws Exception {
    Descriptor descriptor = of("createType=\"monolithicFlat\"\n"
        + "RW 2048 FLAT \"a-flat.vmdk\" 16\r\n"
        + "RDONLY 2048 FLAT \"ro.vmdk\" 0\n"
        + "NOACCESS 2048 FLAT \"no.vmdk\" 0\n"
        + "RW 0 FLAT \"empty.vmdk\" 0\n"
        + "RW 2048 ZERO \"zero.vmdk\"\n"
        + "RW 4096 VMFS \"esx-flat.vmdk\"\n"
        + "RW   10\tVMFSSPARSE   \"d\u00e9lta.vmdk\"\n"
        + "ddb.adapterType = \"ide\"\n");
    assertThat(descriptor.extents(10)).containsExactly(
        new ExtentLine("RW", 2048, "FLAT", "a-flat.vmdk", 16),
        new ExtentLine("RW", 4096, "VMFS", "esx-flat.vmdk", 0),
        new ExtentLine("RW", 10, "VMFSSPARSE", "d\u00e9lta.vmdk", 0));
  }

  @Test
  void malformedExtentLinesAreInvalidAsInQemu() {
    for (String line : new String[] {"RW 2048 FLAT \"x.vmdk\"", "RW 2048 FLAT \"x.vmdk\" -1",
        "RW 2048 VMFS \"x.vmdk\" 0", "RW 2048 SPARSE \"x.vmdk\" 7"}) {
      assertThatThrownBy(() -> of(line + "\n").extents(10)).isInstanceOf(CorruptImageException.class)
          .hasMessage("d.vmdk: Invalid extent line: " + line);
    }
  }

  @Test
  void fieldsThatAreMissingOrMalformedAreNamed() throws Exception {
    assertThatThrownBy(() -> of("version=1\n").createType()).isInstanceOf(CorruptImageException.class)
        .hasMessageContaining("invalid VMDK image descriptor");
    assertThatThrownBy(() -> of("createType=\"" + "x".repeat(200) + "\"").createType())
        .isInstanceOf(CorruptImageException.class);
    assertThatThrownBy(() -> of("CID=zz\n").cid(false)).isInstanceOf(CorruptImageException.class)
        .hasMessageContaining("no readable CID");
    assertThatThrownBy(() -> of("parentFileNameHint=\"open").parentFileNameHint())
        .isInstanceOf(CorruptImageException.class).hasMessageContaining("no closing quote");
    assertThatThrownBy(() -> of("parentFileNameHint=\"" + "p".repeat(5000) + "\"").parentFileNameHint())
        .isInstanceOf(CorruptImageException.class).hasMessageContaining("longer than 4095");
    assertThat(of("CID=1\n").parentFileNameHint()).isNull();
    assertThatThrownBy(() -> of("RW 1 FLAT \"a\" 0\nRW 1 FLAT \"b\" 0\nRW 1 FLAT \"c\" 0\n").extents(2))
        .isInstanceOf(ImageLimitException.class).hasMessageContaining("more than 2 extents");
  }

  @Test
  void theFirstOccurrenceWinsAndTheTextEndsAtNul() throws Exception {
    // parentCID comes first here, so "CID" is found inside it, as strstr finds it
    assertThat(of("parentCID=ffffffff\nCID=12345678\n").cid(false)).isEqualTo(0xffffffffL);
    byte[] bytes = "CID=0x1f\0parentCID=2\n".getBytes(StandardCharsets.US_ASCII);
    Descriptor cut = Descriptor.of(bytes, bytes.length, "d.vmdk");
    assertThat(cut.cid(false)).isEqualTo(0x1f);
    assertThatThrownBy(() -> cut.cid(true)).isInstanceOf(CorruptImageException.class);
  }
}
