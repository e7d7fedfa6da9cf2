package io.qcow4j.options;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.vdi.VdiHeader;
import java.util.List;

/**
 * A new image's options from the -o values of qemu-img create or convert: the values converted as
 * qcow2_co_create_opts converts them (with its messages for values no enumeration has), then
 * checked by {@link CreateRules}. The file protocol's nocow and extent_size_hint are accepted and
 * have no effect, as when the host file system does not support them; encryption is refused.
 */
public final class CreateOptionsReader {
  private CreateOptionsReader() {}

  /** The options of a new image of {@code format} and {@code size} bytes. */
  public static CreateOptions read(ImageFormat format, OptionValues values, long size) throws InvalidOptionException {
    if (createsFileFirst(format)) {
      checkBeforeFile(format, values, size);
      // bdrv_create_file: the file protocol's own preallocation, before the format's checks
      Preallocation preallocation = filePreallocation(values);
      if (preallocation == Preallocation.METADATA) {
        throw new InvalidOptionException("Unsupported preallocation mode: metadata");
      }
    }
    return switch (format) {
      case QCOW2 -> qcow2(values, size);
      case VPC -> vpc(values, size);
      case VDI -> vdi(values, size);
      case VHDX -> vhdx(values, size);
      case LUKS -> luks(values, size);
      case VMDK -> vmdk(values, size);
      case QED -> qed(values, size);
      case QCOW -> qcow(values, size);
      default -> raw(values, size);
    };
  }

  /**
   * Parses the size options again as QEMU 7.2's create functions do, so that qemu_strtosz's
   * warnings ({@link OptionNumbers#warnTo}) come as often and in the order QEMU prints them: the
   * file protocol's options on their round trip through a QDict (bdrv_co_create_file), then the
   * format's through its QAPI visitor (qcow2, vpc, vhdx, vdi, qed, qcow, luks), in the QAPI
   * structure's order; vmdk reads the values parsed already. A size given as a number (the image
   * size of the command line) is parsed as digits, without a warning. The values were checked when
   * they were set.
   */
  public static void reparseSizes(ImageFormat format, OptionValues values) {
    List<String> names = switch (format) {
      case RAW -> List.of("size", "extent_size_hint");
      case QCOW2, QED -> List.of("extent_size_hint", "size", "cluster_size");
      case VHDX -> List.of("extent_size_hint", "size", "log_size", "block_size");
      case VPC, VDI, QCOW, LUKS -> List.of("extent_size_hint", "size");
      default -> List.of();
    };
    for (String name : names) {
      String value = values.string(name);
      if (value != null) {
        try {
          OptionNumbers.parseSize(value);
        } catch (OptionNumbers.FormatException e) {
          // refused when it was set
        }
      }
    }
  }

  /**
   * Whether QEMU 7.2 creates the image file through the file protocol before it checks the
   * format's own options (vpc, vdi, vhdx, qed, qcow; vmdk checks its options first), so that a
   * refusal by {@link #read} past {@link #checkBeforeFile} leaves an empty file behind.
   */
  public static boolean createsFileFirst(ImageFormat format) {
    return switch (format) {
      case VPC, VDI, VHDX, QED, QCOW, VMDK -> true;
      default -> false;
    };
  }

  /**
   * The refusals QEMU makes before it creates the file of a format {@link #createsFileFirst}: the
   * file protocol's preallocation names no mode, a vmdk option is wrong, a qcow backing format is
   * unknown.
   */
  public static void checkBeforeFile(ImageFormat format, OptionValues values, long size)
      throws InvalidOptionException {
    if (format == ImageFormat.VMDK) {
      vmdk(values, size);
    }
    if (format == ImageFormat.QCOW) {
      String backingFormat = values.string("backing_fmt");
      if (backingFormat != null && !FormatNames.isQemuDriver(backingFormat)) {
        throw new InvalidOptionException("unrecognized backing format '" + backingFormat + "'");
      }
    }
    filePreallocation(values);
  }

  /** The file protocol's preallocation (raw_co_create_opts: off, falloc, full; metadata refused later). */
  private static Preallocation filePreallocation(OptionValues values) throws InvalidOptionException {
    String name = values.string("preallocation");
    if (name == null) {
      return Preallocation.OFF;
    }
    Preallocation mode = Preallocation.fromName(name);
    if (mode == null) {
      throw new InvalidOptionException("invalid parameter value: " + name);
    }
    return mode;
  }

  /**
   * The options of a new QED image, checked as bdrv_qed_co_create checks them: the cluster size
   * (a power of two from 4 KiB to 64 MiB), the table size (a power of two from 1 to 16 clusters),
   * then the size (rounded up to a sector) against what two table levels map; QEMU's 32-bit fields
   * keep the low 32 bits of what is given.
   */
  public static CreateOptions qed(OptionValues values, long size) throws InvalidOptionException {
    long clusterSize = values.number("cluster_size", 65536) & 0xffffffffL;
    long tableSize = values.number("table_size", 4) & 0xffffffffL;
    long rounded = (size + 511) & -512L;
    if (clusterSize < 4096 || clusterSize > (64 << 20) || Long.bitCount(clusterSize) != 1) {
      throw new InvalidOptionException("QED cluster size must be within range [4096, 67108864] and power of 2");
    }
    if (tableSize < 1 || tableSize > 16 || Long.bitCount(tableSize) != 1) {
      throw new InvalidOptionException("QED table size must be within range [1, 16] and power of 2");
    }
    long entries = tableSize * clusterSize / 8;
    long max = entries * clusterSize * entries;
    if (Long.compareUnsigned(rounded, max) > 0) {
      throw new InvalidOptionException("QED image size must be a non-zero multiple of cluster size and less than "
          + Long.toUnsignedString(max) + " bytes");
    }
    String backingFormatName = values.string("backing_fmt");
    if (backingFormatName != null && !FormatNames.isQemuDriver(backingFormatName)) {
      throw new InvalidOptionException("Parameter 'backing-fmt' does not accept value '" + backingFormatName + "'");
    }
    String backingFile = values.string("backing_file");
    ImageFormat backingFormat = backingFormatName == null ? null : FormatNames.backingFormat(backingFormatName);
    return CreateOptions.builder(rounded).qed((int) clusterSize, (int) tableSize)
        .backing(backingFile, backingFile == null ? null : backingFormat).build();
  }

  /**
   * The options of a new qcow (version 1) image, checked as qcow_co_create_opts and qcow_co_create
   * check them: the encryption format's name, a zero size, then encryption, which qcow4j refuses
   * past QEMU's own refusals (QEMU 7.2 no longer runs AES-encrypted qcow images but in qemu-img).
   */
  public static CreateOptions qcow(OptionValues values, long size) throws InvalidOptionException {
    String encryptFormat = values.string("encrypt.format");
    if (values.bool("encryption", false)) {
      encryptFormat = encryptFormat == null ? "qcow" : encryptFormat;
    }
    if ("aes".equals(encryptFormat)) {
      encryptFormat = "qcow";
    }
    if (encryptFormat != null && !encryptFormat.equals("qcow") && !encryptFormat.equals("luks")) {
      throw new InvalidOptionException("Parameter 'format' does not accept value '" + encryptFormat + "'");
    }
    if (size == 0) {
      throw new InvalidOptionException("Image size is too small, cannot be zero length");
    }
    if (encryptFormat != null) {
      if (!encryptFormat.equals("qcow")) {
        throw new InvalidOptionException("Unsupported encryption format");
      }
      if (values.string("encrypt.key-secret") == null) {
        throw new InvalidOptionException("Parameter 'encrypt.key-secret' is required for cipher");
      }
      throw new InvalidOptionException("qcow4j does not create AES-encrypted qcow images (QEMU 7.2 runs them in no"
          + " emulator)");
    }
    String backingFile = values.string("backing_file");
    return CreateOptions.builder((size + 511) & -512L).backing(backingFile, null).build();
  }

  /**
   * The options of a new raw LUKS image: the cipher settings as named (checked when the image is
   * made, once the secret is known), the file's preallocation; the passphrase is added by the
   * caller from the key-secret.
   */
  public static CreateOptions luks(OptionValues values, long size) throws InvalidOptionException {
    Encryption encryption = new Encryption("luks", values.string("cipher-alg"), values.string("cipher-mode"),
        values.string("ivgen-alg"), values.string("ivgen-hash-alg"), values.string("hash-alg"),
        values.has("iter-time") ? values.number("iter-time", 0) : null, null);
    return CreateOptions.builder(size).preallocation(preallocation(values.string("preallocation")))
        .encryption(encryption).build();
  }

  /**
   * The options of a new VHD (vpc) image: subformat dynamic (the default) or fixed, force_size.
   */
  public static CreateOptions vpc(OptionValues values, long size) throws InvalidOptionException {
    String subformat = values.string("subformat");
    boolean fixed = "fixed".equals(subformat);
    if (subformat != null && !fixed && !subformat.equals("dynamic")) {
      throw new InvalidOptionException("Parameter 'subformat' does not accept value '" + subformat + "'");
    }
    return CreateOptions.builder(size).vpc(fixed, values.bool("force_size", false)).build();
  }

  /** The options of a new VDI image: static or dynamic (the default), checked as vdi_co_do_create checks them. */
  public static CreateOptions vdi(OptionValues values, long size) throws InvalidOptionException {
    boolean isStatic = values.bool("static", false);
    if (Long.compareUnsigned(size, VdiHeader.MAX_DISK_SIZE) > 0) {
      throw new InvalidOptionException("Unsupported VDI image size (size is 0x" + Long.toHexString(size)
          + ", max supported is 0x" + Long.toHexString(VdiHeader.MAX_DISK_SIZE) + ")");
    }
    return CreateOptions.builder(size).vdi(isStatic).build();
  }

  /**
   * The options of a new VHDX image, rounded and checked as vhdx_co_create_opts and vhdx_co_create
   * do: the size to a sector, the log and block sizes up to whole MiB (a block size over 256 MiB
   * becomes 256 MiB), then their limits in QEMU's order and words.
   */
  public static CreateOptions vhdx(OptionValues values, long size) throws InvalidOptionException {
    String subformat = values.string("subformat");
    boolean fixed = "fixed".equals(subformat);
    if (subformat != null && !fixed && !subformat.equals("dynamic")) {
      throw new InvalidOptionException("Parameter 'subformat' does not accept value '" + subformat + "'");
    }
    boolean blockStateZero = values.bool("block_state_zero", true);
    long mib = 1 << 20;
    long rounded = (size + 511) & -512L;
    long logSize = values.number("log_size", mib);
    logSize = Long.divideUnsigned(logSize + mib - 1, mib) * mib;
    long blockSize = values.number("block_size", 0);
    blockSize = Long.divideUnsigned(blockSize + mib - 1, mib) * mib;
    if (Long.compareUnsigned(blockSize, 256 * mib) > 0) {
      blockSize = 256 * mib;
    }
    if (Long.compareUnsigned(rounded, 64L << 40) > 0) {
      throw new InvalidOptionException("Image size too large; max of 64TB");
    }
    if (Long.compareUnsigned(logSize, 0xffffffffL) > 0) {
      throw new InvalidOptionException("Log size must be smaller than 4 GB");
    }
    if (logSize < mib) {
      throw new InvalidOptionException("Log size must be a multiple of 1 MB");
    }
    if (blockSize != 0 && Long.bitCount(blockSize) != 1) {
      throw new InvalidOptionException("Block size must be a power of two");
    }
    return CreateOptions.builder(rounded).vhdx(fixed, blockSize, logSize, blockStateZero).build();
  }

  /**
   * The options of a new VMDK image, read and checked as vmdk_co_create_opts and vmdk_co_do_create
   * do, every subformat and a parent (the backing file) among them.
   */
  public static CreateOptions vmdk(OptionValues values, long size) throws InvalidOptionException {
    String backingFormat = values.string("backing_fmt");
    if (backingFormat != null && !backingFormat.equals("vmdk")) {
      throw new InvalidOptionException("backing_file must be a vmdk image");
    }
    String hwVersion = values.string("hwversion");
    if ("undefined".equals(hwVersion)) {
      hwVersion = null;
    }
    boolean compat6 = values.bool("compat6", false);
    boolean zeroedGrain = values.bool("zeroed_grain", false);
    String adapterType = values.string("adapter_type");
    if (adapterType != null && !List.of("ide", "buslogic", "lsilogic", "legacyESX").contains(adapterType)) {
      throw new InvalidOptionException("invalid parameter value: " + adapterType);
    }
    String subformat = values.string("subformat");
    List<String> subformats = List.of("monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
        "twoGbMaxExtentFlat", "streamOptimized");
    if (subformat != null && !subformats.contains(subformat)) {
      throw new InvalidOptionException("invalid parameter value: " + subformat);
    }
    if (compat6) {
      if (hwVersion != null) {
        throw new InvalidOptionException("compat6 cannot be enabled with hwversion set");
      }
      hwVersion = "6";
    }
    boolean flat = "monolithicFlat".equals(subformat) || "twoGbMaxExtentFlat".equals(subformat);
    String backingFile = values.string("backing_file");
    if (flat && backingFile != null) {
      throw new InvalidOptionException("Flat image can't have backing file");
    }
    if (flat && zeroedGrain) {
      throw new InvalidOptionException("Flat image can't enable zeroed grain");
    }
    return CreateOptions.builder((size + 511) & -512L)
        .vmdk(subformat, adapterType, hwVersion, values.string("toolsversion"), zeroedGrain)
        .backing(backingFile, backingFile == null ? null : ImageFormat.VMDK).build();
  }

  /** The options of a new qcow2 image, checked in the order and with the messages of qemu-img 7.2. */
  public static CreateOptions qcow2(OptionValues values, long size) throws InvalidOptionException {
    Encryption encryption = qcow2Encryption(values);
    Compat compat = Compat.V3;
    String compatName = values.string("compat");
    if (compatName != null) {
      compat = Compat.fromName(compatName);
      if (compat == null) {
        throw new InvalidOptionException("Parameter 'version' does not accept value '" + compatName + "'");
      }
    }
    String backingFormatName = values.string("backing_fmt");
    if (backingFormatName != null && !FormatNames.isQemuDriver(backingFormatName)) {
      throw new InvalidOptionException("Parameter 'backing-fmt' does not accept value '" + backingFormatName + "'");
    }
    Preallocation preallocation = preallocation(values.string("preallocation"));
    CompressionType compression = CompressionType.ZLIB;
    String compressionName = values.string("compression_type");
    if (compressionName != null) {
      compression = CompressionType.fromName(compressionName);
      if (compression == null) {
        throw new InvalidOptionException("Parameter 'compression-type' does not accept value '" + compressionName
            + "'");
      }
    }
    ImageFormat backingFormat = backingFormatName == null ? null : FormatNames.backingFormat(backingFormatName);
    CreateOptions options = CreateOptions.builder(size)
        .compat(compat)
        .clusterSize(saturated(values.number("cluster_size", 65536)))
        .refcountBits(saturated(values.number("refcount_bits", 16)))
        .lazyRefcounts(values.bool("lazy_refcounts", false))
        .extendedL2(values.bool("extended_l2", false))
        .compressionType(compression)
        .preallocation(preallocation)
        .dataFile(values.string("data_file"), values.bool("data_file_raw", false))
        .backing(values.string("backing_file"), backingFormat)
        .encryption(encryption)
        .build();
    CreateRules.checkQcow2(options, backingFormatName != null);
    if (backingFormatName != null && backingFormat == null) {
      throw new InvalidOptionException("Backing format '" + backingFormatName
          + "' is not supported by qcow4j");
    }
    return options;
  }

  /** The options of a new raw image: its size and preallocation, checked as QEMU's file driver does. */
  public static CreateOptions raw(OptionValues values, long size) throws InvalidOptionException {
    CreateOptions options = CreateOptions.builder(size).preallocation(preallocation(values.string("preallocation")))
        .build();
    CreateRules.checkRaw(options);
    return options;
  }

  /** The PreallocMode enumeration's names; null (not given) is off. */
  static Preallocation preallocation(String name) throws InvalidOptionException {
    if (name == null) {
      return Preallocation.OFF;
    }
    Preallocation mode = Preallocation.fromName(name);
    if (mode == null) {
      throw new InvalidOptionException("Parameter 'preallocation' does not accept value '" + name + "'");
    }
    return mode;
  }

  /**
   * A qcow2 image's encryption from encrypt.* (and the deprecated encryption=on, which is
   * encrypt.format=aes), checked with qemu-img 7.2's messages; null when none is asked for. The
   * passphrase is added by the caller from encrypt.key-secret. The legacy AES format takes no
   * option but the key secret.
   */
  static Encryption qcow2Encryption(OptionValues values) throws InvalidOptionException {
    String format = values.string("encrypt.format");
    // qcow2_co_create_opts drops encryption=off, then renames encryption=on to encrypt.format
    boolean legacyOn = values.bool("encryption", false);
    if (legacyOn && format != null) {
      throw new InvalidOptionException("'encrypt.format' and its alias 'encryption' can't be used at the same time");
    }
    if (legacyOn) {
      format = "aes";
    }
    if (format == null) {
      for (OptionDescriptor descriptor : values.list().descriptors()) {
        if (descriptor.name().startsWith("encrypt.") && values.has(descriptor.name())) {
          throw new InvalidOptionException("Parameter 'encrypt.format' is missing");
        }
      }
      return null;
    }
    if (!format.equals("luks") && !format.equals("aes")) {
      throw new InvalidOptionException("Parameter 'format' does not accept value '" + format + "'");
    }
    if (format.equals("aes")) {
      // QCryptoBlockCreateOptionsQCow has the key secret only
      for (OptionDescriptor descriptor : values.list().descriptors()) {
        String name = descriptor.name();
        if (name.startsWith("encrypt.") && !name.equals("encrypt.format") && !name.equals("encrypt.key-secret")
            && values.has(name)) {
          throw new InvalidOptionException("Parameter '" + name + "' is unexpected");
        }
      }
      return new Encryption("aes", null, null, null, null, null, null, null);
    }
    return new Encryption(format, values.string("encrypt.cipher-alg"), values.string("encrypt.cipher-mode"),
        values.string("encrypt.ivgen-alg"), values.string("encrypt.ivgen-hash-alg"), values.string("encrypt.hash-alg"),
        values.has("encrypt.iter-time") ? values.number("encrypt.iter-time", 0) : null, null);
  }

  /**
   * An unsigned option value as an int, values an int cannot hold becoming Integer.MAX_VALUE, which
   * the cluster size and refcount width checks refuse with the same message as the value itself.
   */
  private static int saturated(long value) {
    return value < 0 || value > Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) value;
  }

  /**
   * qemu-img convert's -o values of a new target of {@code format} (the file protocol's options included) holding
   * {@code size} bytes, with -B and -F added; refused as img_convert refuses a backing file for
   * several sources or without a format, and compression where the format or the other options
   * exclude it.
   */
  public static OptionValues convertTarget(ImageFormat format, String optionList, long size, String backingFile,
      String backingFormat, int sourceCount, boolean compress) throws InvalidOptionException {
    OptionValues values = OptionValues.parse(OptionLists.createOnFile(format), optionList);
    values.setNumber("size", size);
    setBacking(values, format, backingFile, backingFormat);
    if (sourceCount > 1 && values.has("backing_file")) {
      throw new InvalidOptionException(
          "Having a backing file for the target makes no sense when concatenating multiple input images");
    }
    if (values.has("backing_file") && !values.has("backing_fmt")) {
      throw new InvalidOptionException("Use of backing file requires explicit backing format");
    }
    if (compress && format != ImageFormat.VMDK) {
      // vmdk takes compressed writes too (as plain writes; a streamOptimized extent deflates them)
      if (format != ImageFormat.QCOW2) {
        throw new InvalidOptionException("Compression not supported for this file format");
      }
      if (values.bool("encryption", false) || values.has("encrypt.format")) {
        throw new InvalidOptionException("Compression and encryption not supported at the same time");
      }
      String preallocation = values.string("preallocation");
      if (preallocation != null && !preallocation.equals("off")) {
        throw new InvalidOptionException("Compression and preallocation not supported at the same time");
      }
    }
    return values;
  }

  /**
   * Sets -b and -F (either may be null) in {@code values}, refused as qemu-img refuses them for a
   * format without backing files.
   */
  public static void setBacking(OptionValues values, ImageFormat format, String backingFile, String backingFormat)
      throws InvalidOptionException {
    if (backingFile != null) {
      if (!values.accepts("backing_file")) {
        throw new InvalidOptionException("Backing file not supported for file format '" + format.id() + "'");
      }
      values.set("backing_file", backingFile);
    }
    if (backingFormat != null) {
      if (!values.accepts("backing_fmt")) {
        throw new InvalidOptionException("Backing file format not supported for file format '" + format.id() + "'");
      }
      values.set("backing_fmt", backingFormat);
    }
  }
}
