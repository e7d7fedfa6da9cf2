package io.qcow4j.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The -o syntax and typed values without the real tool (the CLI tests compare them with qemu-img). */
class OptionValuesTest {
  @Test
  void splitsAsQemuOptsDoes() {
    assertThat(OptionSyntax.elements("backing_file=a,,b,lazy_refcounts,noextended_l2,id=x,size=1M")).containsExactly(
        new OptionSyntax.Element("backing_file", "a,b"), new OptionSyntax.Element("lazy_refcounts", "on"),
        new OptionSyntax.Element("extended_l2", "off"), new OptionSyntax.Element("size", "1M"));
    assertThat(OptionSyntax.isValidList("a=1,,")).isTrue();
    assertThat(OptionSyntax.isValidList("a=1,")).isFalse();
    assertThat(OptionSyntax.isValidList(",a=1")).isFalse();
    assertThat(OptionSyntax.isValidList("")).isFalse();
    assertThat(OptionSyntax.wantsHelp("compat=1.1,?")).isTrue();
    assertThat(OptionSyntax.wantsHelp("help=on")).isFalse();
  }

  @Test
  void repeatedListsAreJoinedAndTheLaterValueWins() throws Exception {
    String joined = OptionSyntax.accumulate(List.of("compat=1.1", "compat=0.10,cluster_size=4k"));
    OptionValues values = OptionValues.parse(OptionLists.createOnFile(ImageFormat.QCOW2), joined);
    values.setNumber("size", 1 << 20);
    CreateOptions options = CreateOptionsReader.qcow2(values, 1 << 20);
    assertThat(options.compat()).isEqualTo(Compat.V2);
    assertThat(options.clusterSize()).isEqualTo(4096);
    assertThat(values.describe()).isEqualTo("cluster_size=4096 extended_l2=off compression_type=zlib size=1048576 "
        + "compat=0.10 lazy_refcounts=off refcount_bits=16");
    assertThatThrownBy(() -> OptionSyntax.accumulate(List.of("a=1", "b=2,"))).hasMessage("Invalid option list: b=2,");
  }

  @Test
  void valuesAreTypedWithQemusMessages() throws Exception {
    OptionList qcow2 = OptionLists.create(ImageFormat.QCOW2);
    assertThatThrownBy(() -> OptionValues.parse(qcow2, "lazy_refcounts=1"))
        .isInstanceOf(InvalidOptionException.class).hasMessage("Parameter 'lazy_refcounts' expects 'on' or 'off'");
    assertThatThrownBy(() -> OptionValues.parse(qcow2, "refcount_bits=08"))
        .hasMessage("Parameter 'refcount_bits' expects a number");
    assertThatThrownBy(() -> OptionValues.parse(qcow2, "cluster_size=16E"))
        .hasMessage("Value '16E' is out of range for parameter 'cluster_size'");
    assertThatThrownBy(() -> OptionValues.parse(qcow2, "nocow=on")).hasMessage("Invalid parameter 'nocow'");
    OptionValues values = OptionValues.parse(qcow2, "refcount_bits=-1,compression_type=zstd,extended_l2=yes");
    assertThat(values.describe()).contains("refcount_bits=-1").contains("extended_l2=yes");
    assertThatThrownBy(() -> CreateOptionsReader.qcow2(values, 0))
        .hasMessage("Refcount width must be a power of two and may not exceed 64 bits");
    assertThat(CreateOptionsReader.qcow2(OptionValues.parse(qcow2, "compression_type=zstd"), 0).compressionType())
        .isEqualTo(CompressionType.ZSTD);
  }

  @Test
  void encryptionIsReadWithQemuMessages() throws Exception {
    OptionValues values = OptionValues.parse(OptionLists.create(ImageFormat.QCOW2),
        "encrypt.format=luks,encrypt.cipher-alg=aes-128,encrypt.iter-time=10");
    assertThat(CreateOptionsReader.qcow2(values, 0).encryption().cipherAlg()).isEqualTo("aes-128");
    assertThat(CreateOptionsReader.qcow2(values, 0).encryption().iterTimeMillis()).isEqualTo(10L);
    OptionValues missing = OptionValues.parse(OptionLists.create(ImageFormat.QCOW2), "encrypt.key-secret=s");
    assertThatThrownBy(() -> CreateOptionsReader.qcow2(missing, 0)).hasMessage("Parameter 'encrypt.format' is missing");
    assertThat(CreateOptionsReader.qcow2(OptionValues.parse(OptionLists.create(ImageFormat.QCOW2), "encryption=off"),
        0)).isEqualTo(CreateOptions.of(0));
  }

  @Test
  void helpSortsTheLinesAsQemuDoes() {
    assertThat(OptionHelp.create(ImageFormat.RAW, "x.raw")).isEqualTo("""
        Supported options:
          extent_size_hint=<size> - Extent size hint for the image file, 0 to disable
          nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)
          preallocation=<str>    - Preallocation mode (allowed values: off, falloc, full)
          size=<size>            - Virtual disk size
        """);
  }
}
