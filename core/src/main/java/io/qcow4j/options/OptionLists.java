package io.qcow4j.options;

import static io.qcow4j.options.OptionType.BOOL;
import static io.qcow4j.options.OptionType.NUMBER;
import static io.qcow4j.options.OptionType.SIZE;
import static io.qcow4j.options.OptionType.STRING;

import io.qcow4j.disk.ImageFormat;
import java.util.ArrayList;
import java.util.List;

/**
 * The option lists of qemu-img 7.2 for the formats and the protocol qcow4j writes, in QEMU's order
 * and with its help texts and printed defaults: qcow2's creation and amend options, raw's, and
 * those of the file protocol under them.
 */
public final class OptionLists {
  /** QCOW_COMMON_OPTIONS: what qcow2's creation and amend lists share. */
  private static final List<OptionDescriptor> QCOW2_COMMON = List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("compat", STRING, "Compatibility level (v2 [0.10] or v3 [1.1])"),
      OptionDescriptor.of("backing_file", STRING, "File name of a base image"),
      OptionDescriptor.of("backing_fmt", STRING, "Image format of the base image"),
      OptionDescriptor.of("data_file", STRING, "File name of an external data file"),
      OptionDescriptor.of("data_file_raw", BOOL, "The external data file must stay valid as a raw image"),
      new OptionDescriptor("lazy_refcounts", BOOL, "Postpone refcount updates", "off"),
      new OptionDescriptor("refcount_bits", NUMBER, "Width of a reference count entry in bits", "16"));

  private static final OptionList QCOW2_CREATE = new OptionList(concat(List.of(
      OptionDescriptor.of("encryption", BOOL,
          "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
      OptionDescriptor.of("encrypt.format", STRING, "Encrypt the image, format choices: 'aes', 'luks'"),
      OptionDescriptor.of("encrypt.key-secret", STRING, "ID of secret providing qcow AES key or LUKS passphrase"),
      OptionDescriptor.of("encrypt.cipher-alg", STRING, "Name of encryption cipher algorithm"),
      OptionDescriptor.of("encrypt.cipher-mode", STRING, "Name of encryption cipher mode"),
      OptionDescriptor.of("encrypt.ivgen-alg", STRING, "Name of IV generator algorithm"),
      OptionDescriptor.of("encrypt.ivgen-hash-alg", STRING, "Name of IV generator hash algorithm"),
      OptionDescriptor.of("encrypt.hash-alg", STRING, "Name of encryption hash algorithm"),
      OptionDescriptor.of("encrypt.iter-time", NUMBER, "Time to spend in PBKDF in milliseconds"),
      new OptionDescriptor("cluster_size", SIZE, "qcow2 cluster size", "65536"),
      new OptionDescriptor("extended_l2", BOOL, "Extended L2 tables", "off"),
      OptionDescriptor.of("preallocation", STRING, "Preallocation mode (allowed values: off, metadata, falloc, full)"),
      new OptionDescriptor("compression_type", STRING, "Compression method used for image cluster compression",
          "zlib")), QCOW2_COMMON));

  private static final OptionList QCOW2_AMEND = new OptionList(concat(List.of(
      OptionDescriptor.of("encrypt.state", STRING, "Select new state of affected keyslots (active/inactive)"),
      OptionDescriptor.of("encrypt.keyslot", NUMBER, "Select a single keyslot to modify explicitly"),
      OptionDescriptor.of("encrypt.old-secret", STRING, "Select all keyslots that match this password"),
      OptionDescriptor.of("encrypt.new-secret", STRING,
          "New secret to set in the matching keyslots. Empty string to erase"),
      OptionDescriptor.of("encrypt.iter-time", NUMBER, "Time to spend in PBKDF in milliseconds")), QCOW2_COMMON));

  /** block_crypto_amend_opts_luks: the raw LUKS image's amend options. */
  private static final OptionList LUKS_AMEND = new OptionList(List.of(
      OptionDescriptor.of("state", STRING, "Select new state of affected keyslots (active/inactive)"),
      OptionDescriptor.of("keyslot", NUMBER, "Select a single keyslot to modify explicitly"),
      OptionDescriptor.of("old-secret", STRING, "Select all keyslots that match this password"),
      OptionDescriptor.of("new-secret", STRING, "New secret to set in the matching keyslots. Empty string to erase"),
      OptionDescriptor.of("iter-time", NUMBER, "Time to spend in PBKDF in milliseconds")));

  /** block_crypto_create_opts_luks: the raw LUKS image's creation options. */
  private static final OptionList LUKS_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("key-secret", STRING, "ID of the secret that provides the keyslot passphrase"),
      OptionDescriptor.of("cipher-alg", STRING, "Name of encryption cipher algorithm"),
      OptionDescriptor.of("cipher-mode", STRING, "Name of encryption cipher mode"),
      OptionDescriptor.of("ivgen-alg", STRING, "Name of IV generator algorithm"),
      OptionDescriptor.of("ivgen-hash-alg", STRING, "Name of IV generator hash algorithm"),
      OptionDescriptor.of("hash-alg", STRING, "Name of encryption hash algorithm"),
      OptionDescriptor.of("iter-time", NUMBER, "Time to spend in PBKDF in milliseconds")));

  private static final OptionList RAW_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size")));

  private static final OptionList VPC_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("subformat", STRING,
          "Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} "),
      OptionDescriptor.of("force_size", BOOL, "Force disk size calculation to use the actual size specified, rather"
          + " than using the nearest CHS-based calculation")));

  private static final OptionList VDI_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      new OptionDescriptor("static", BOOL, "VDI static (pre-allocated) image", "off")));

  private static final OptionList VHDX_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size; max of 64TB."),
      new OptionDescriptor("log_size", SIZE, "Log size; min 1MB.", "1048576"),
      new OptionDescriptor("block_size", SIZE,
          "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.", "0"),
      OptionDescriptor.of("subformat", STRING, "VHDX format type, can be either 'dynamic' or 'fixed'. "
          + "Default is 'dynamic'."),
      OptionDescriptor.of("block_state_zero", BOOL, "Force use of payload blocks of type 'ZERO'. "
          + "Non-standard, but default.  Do not set to 'off' when using 'qemu-img convert' with subformat=dynamic.")));

  private static final OptionList VMDK_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("adapter_type", STRING,
          "Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX"),
      OptionDescriptor.of("backing_file", STRING, "File name of a base image"),
      OptionDescriptor.of("backing_fmt", STRING, "Must be 'vmdk' if present"),
      new OptionDescriptor("compat6", BOOL, "VMDK version 6 image", "off"),
      new OptionDescriptor("hwversion", STRING, "VMDK hardware version", "undefined"),
      OptionDescriptor.of("toolsversion", STRING, "VMware guest tools version"),
      OptionDescriptor.of("subformat", STRING, "VMDK flat extent format, can be one of {monolithicSparse (default)"
          + " | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} "),
      OptionDescriptor.of("zeroed_grain", BOOL, "Enable efficient zero writes using the zeroed-grain GTE feature")));

  /** qed_create_opts. */
  private static final OptionList QED_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("backing_file", STRING, "File name of a base image"),
      OptionDescriptor.of("backing_fmt", STRING, "Image format of the base image"),
      new OptionDescriptor("cluster_size", SIZE, "Cluster size (in bytes)", "65536"),
      OptionDescriptor.of("table_size", SIZE, "L1/L2 table size (in clusters)")));

  /** qcow_create_opts (qcow version 1). */
  private static final OptionList QCOW_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("backing_file", STRING, "File name of a base image"),
      OptionDescriptor.of("backing_fmt", STRING, "Format of the backing image"),
      OptionDescriptor.of("encryption", BOOL,
          "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
      OptionDescriptor.of("encrypt.format", STRING, "Encrypt the image, format choices: 'aes'"),
      OptionDescriptor.of("encrypt.key-secret", STRING, "ID of the secret that provides the AES encryption key")));

  private static final OptionList FILE_CREATE = new OptionList(List.of(
      OptionDescriptor.of("size", SIZE, "Virtual disk size"),
      OptionDescriptor.of("nocow", BOOL, "Turn off copy-on-write (valid only on btrfs)"),
      OptionDescriptor.of("preallocation", STRING, "Preallocation mode (allowed values: off, falloc, full)"),
      OptionDescriptor.of("extent_size_hint", SIZE, "Extent size hint for the image file, 0 to disable")));

  private OptionLists() {}

  /** The format's own creation options (qemu-img create -f FMT -o help, without a file name). */
  public static OptionList create(ImageFormat format) {
    return switch (format) {
      case QCOW2 -> QCOW2_CREATE;
      case VPC -> VPC_CREATE;
      case VDI -> VDI_CREATE;
      case VHDX -> VHDX_CREATE;
      case LUKS -> LUKS_CREATE;
      case VMDK -> VMDK_CREATE;
      case QED -> QED_CREATE;
      case QCOW -> QCOW_CREATE;
      default -> RAW_CREATE;
    };
  }

  /** The format's creation options and then the file protocol's, as qemu-img takes them for a file. */
  public static OptionList createOnFile(ImageFormat format) {
    return create(format).append(FILE_CREATE);
  }

  /** The options qemu-img amend takes for qcow2. */
  public static OptionList qcow2Amend() {
    return QCOW2_AMEND;
  }

  /** The options qemu-img amend takes for a format: qcow2's, raw LUKS's, or null for a format without. */
  public static OptionList amend(ImageFormat format) {
    return switch (format) {
      case QCOW2 -> QCOW2_AMEND;
      case LUKS -> LUKS_AMEND;
      default -> null;
    };
  }

  private static List<OptionDescriptor> concat(List<OptionDescriptor> first, List<OptionDescriptor> second) {
    List<OptionDescriptor> all = new ArrayList<>(first);
    all.addAll(second);
    return all;
  }
}
