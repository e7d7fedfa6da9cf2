package io.qcow4j.cli;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Preallocation;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * qemu-img's creation options (-o) for qcow2 and raw, read as QEMU's QemuOpts reads them: the
 * "key=value,key=value" syntax (",," for a comma, a bare "key" for on and "nokey" for off, the last
 * value of a key wins), each value checked by its type, "help" listing them, and the option dump of
 * the "Formatting ..." line in QEMU's order with its defaults.
 */
final class CreationOptions {
  /** QemuOpts value types, with the name -o help shows. */
  enum Type {
    STRING("str"), BOOL("bool (on/off)"), NUMBER("num"), SIZE("size");

    final String helpName;

    Type(String helpName) {
      this.helpName = helpName;
    }
  }

  /** One option: its name, type, help text and the default QEMU prints when it is not given (or null). */
  record Descriptor(String name, Type type, String help, String defaultValue) {}

  /** qcow2's options in the order QEMU keeps them (cluster options, then QCOW_COMMON_OPTIONS). */
  private static final List<Descriptor> QCOW2 = List.of(
      new Descriptor("cluster_size", Type.SIZE, "qcow2 cluster size", "65536"),
      new Descriptor("extended_l2", Type.BOOL, "Extended L2 tables", "off"),
      new Descriptor("preallocation", Type.STRING, "Preallocation mode (allowed values: off, metadata, falloc, full)", null),
      new Descriptor("compression_type", Type.STRING, "Compression method used for image cluster compression", "zlib"),
      new Descriptor("size", Type.SIZE, "Virtual disk size", null),
      new Descriptor("compat", Type.STRING, "Compatibility level (v2 [0.10] or v3 [1.1])", null),
      new Descriptor("backing_file", Type.STRING, "File name of a base image", null),
      new Descriptor("backing_fmt", Type.STRING, "Image format of the base image", null),
      new Descriptor("data_file", Type.STRING, "File name of an external data file", null),
      new Descriptor("data_file_raw", Type.BOOL, "The external data file must stay valid as a raw image", null),
      new Descriptor("lazy_refcounts", Type.BOOL, "Postpone refcount updates", "off"),
      new Descriptor("refcount_bits", Type.NUMBER, "Width of a reference count entry in bits", "16"));

  /** raw's own option; the file protocol below it adds preallocation. */
  private static final List<Descriptor> RAW = List.of(new Descriptor("size", Type.SIZE, "Virtual disk size", null));
  private static final List<Descriptor> RAW_FILE = List.of(
      new Descriptor("size", Type.SIZE, "Virtual disk size", null),
      new Descriptor("preallocation", Type.STRING, "Preallocation mode (allowed values: off, falloc, full)", null));

  /** Options QEMU has for these formats that qcow4j does not implement: refused by name, not called unknown. */
  private static final Set<String> NOT_IMPLEMENTED = Set.of(
      "encryption", "encrypt.format", "encrypt.key-secret", "encrypt.cipher-alg", "encrypt.cipher-mode",
      "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg", "encrypt.iter-time", "nocow",
      "extent_size_hint");

  /** BlockdevDriver names QEMU 7.2 accepts for backing_fmt; qcow4j opens only raw and qcow2 ones. */
  private static final Set<String> QEMU_DRIVERS = Set.of(
      "blkdebug", "blklogwrites", "blkreplay", "blkverify", "bochs", "cloop", "compress", "copy-before-write",
      "copy-on-read", "dmg", "file", "snapshot-access", "ftp", "ftps", "gluster", "host_cdrom", "host_device", "http",
      "https", "iscsi", "luks", "nbd", "nfs", "null-aio", "null-co", "nvme", "parallels", "preallocate", "qcow",
      "qcow2", "qed", "quorum", "raw", "rbd", "replication", "ssh", "throttle", "vdi", "vhdx", "vmdk", "vpc", "vvfat");

  /** An option list or value that QEMU refuses; the message is QEMU's, without the file name in front. */
  static final class InvalidOption extends Exception {
    private static final long serialVersionUID = 1L;

    InvalidOption(String message) {
      super(message);
    }
  }

  private final ImageFormat format;
  private final List<Descriptor> descriptors;
  /** The values given, as typed (the last one of each key), in the order first given. */
  private final Map<String, String> values = new LinkedHashMap<>();
  /** SIZE and NUMBER values, parsed. */
  private final Map<String, Long> numbers = new LinkedHashMap<>();

  private CreationOptions(ImageFormat format, boolean withProtocol) {
    this.format = format;
    this.descriptors = format == ImageFormat.QCOW2 ? QCOW2 : withProtocol ? RAW_FILE : RAW;
  }

  /** An empty option set for images of {@code format} created as files (the protocol's options included). */
  static CreationOptions forFormat(ImageFormat format) {
    return new CreationOptions(format, true);
  }

  /** The format that -f or -O names, or a failure with qemu-img's message ("Unknown file format 'x'"). */
  static ImageFormat parseFormat(String name) throws InvalidOption {
    return switch (name) {
      case "qcow2" -> ImageFormat.QCOW2;
      case "raw" -> ImageFormat.RAW;
      case "vmdk", "vdi", "vhdx", "vpc", "qed", "qcow", "luks", "parallels", "cloop", "dmg", "bochs", "vvfat" ->
          throw new InvalidOption("Format '" + name + "' is not supported by qcow4j (raw, qcow2)");
      default -> throw new InvalidOption("Unknown file format '" + name + "'");
    };
  }

  /**
   * qemu-img's check of one -o argument (is_valid_option_list): not empty, not starting with a
   * comma, not ending with an odd number of them.
   */
  static boolean isValidList(String list) {
    if (list.isEmpty() || list.charAt(0) == ',') {
      return false;
    }
    int trailing = 0;
    for (int i = list.length() - 1; i >= 0 && list.charAt(i) == ','; i--) {
      trailing++;
    }
    return trailing % 2 == 0;
  }

  /** Whether the list asks for help: an element that is exactly "help" or "?". */
  static boolean wantsHelp(String list) {
    int position = 0;
    while (position < list.length()) {
      StringBuilder value = new StringBuilder();
      position = readValue(list, position, value);
      if (position < list.length()) {
        position++;
      }
      if (isHelp(value.toString())) {
        return true;
      }
    }
    return false;
  }

  /** qemu-img's print_block_option_help: the options, sorted, as -o help shows them. */
  static String help(ImageFormat format, String filename) {
    List<Descriptor> shown = format == ImageFormat.QCOW2 ? QCOW2 : filename != null ? RAW_FILE : RAW;
    List<String> lines = new ArrayList<>();
    for (Descriptor descriptor : shown) {
      StringBuilder line = new StringBuilder("  " + descriptor.name() + "=<" + descriptor.type().helpName + ">");
      while (line.length() < 24) {
        line.append(' ');
      }
      lines.add(line.append(" - ").append(descriptor.help()).toString());
    }
    lines.sort(null);
    StringBuilder text = new StringBuilder(filename != null ? "Supported options:\n" : "Supported " + format.id() + " options:\n");
    for (String line : lines) {
      text.append(line).append('\n');
    }
    if (filename == null) {
      text.append("\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n");
    }
    return text.toString();
  }

  /** Reads an option list into this set, as qemu_opts_do_parse does; later values replace earlier ones. */
  void parse(String list) throws InvalidOption {
    int position = 0;
    while (position < list.length()) {
      int nameEnd = position;
      while (nameEnd < list.length() && list.charAt(nameEnd) != '=' && list.charAt(nameEnd) != ',') {
        nameEnd++;
      }
      String name;
      String value;
      if (nameEnd >= list.length() || list.charAt(nameEnd) != '=') {
        // a bare flag: "key" means key=on, "nokey" key=off
        name = list.substring(position, nameEnd);
        position = nameEnd;
        if (name.startsWith("no")) {
          name = name.substring(2);
          value = "off";
        } else {
          value = "on";
        }
      } else {
        name = list.substring(position, nameEnd);
        StringBuilder text = new StringBuilder();
        position = readValue(list, nameEnd + 1, text);
        value = text.toString();
      }
      if (position < list.length() && list.charAt(position) == ',') {
        position++;
      }
      if (name.equals("id")) {
        continue;
      }
      set(name, value);
    }
  }

  /** Sets one option as qemu_opt_set does, checking its name and value. */
  void set(String name, String value) throws InvalidOption {
    Descriptor descriptor = descriptor(name);
    if (descriptor == null) {
      if (NOT_IMPLEMENTED.contains(name) || (format == ImageFormat.QCOW2 && name.startsWith("encrypt."))) {
        throw new InvalidOption("Parameter '" + name + "' is not supported by qcow4j");
      }
      throw new InvalidOption("Invalid parameter '" + name + "'");
    }
    switch (descriptor.type()) {
      case BOOL -> parseBool(name, value);
      case NUMBER -> numbers.put(name, parseNumber(name, value));
      case SIZE -> numbers.put(name, parseSize(name, value));
      case STRING -> { }
    }
    values.remove(name);
    values.put(name, value);
  }

  /** Whether this format has an option of that name (raw has no backing_file, for one). */
  boolean accepts(String name) {
    return descriptor(name) != null;
  }

  /** Whether the option was given. */
  boolean has(String name) {
    return values.containsKey(name);
  }

  /** The option's value as given, or null. */
  String get(String name) {
    return values.get(name);
  }

  /** A SIZE or NUMBER option's value, or {@code otherwise}. */
  long number(String name, long otherwise) {
    return numbers.getOrDefault(name, otherwise);
  }

  /** A BOOL option's value, or {@code otherwise}. */
  boolean bool(String name, boolean otherwise) throws InvalidOption {
    String value = values.get(name);
    return value == null ? otherwise : parseBool(name, value);
  }

  /** Sets the size, as qemu-img does with the SIZE argument. */
  void setSize(long size) {
    numbers.put("size", size);
    values.remove("size");
    values.put("size", Long.toString(size));
  }

  /** qemu_opts_print: every option that is set or has a default, in QEMU's order, separated by spaces. */
  String dump() {
    StringBuilder text = new StringBuilder();
    for (Descriptor descriptor : descriptors) {
      String value = values.get(descriptor.name());
      String shown;
      if (value == null) {
        if (descriptor.defaultValue() == null) {
          continue;
        }
        shown = descriptor.defaultValue();
      } else if (descriptor.type() == Type.SIZE || descriptor.type() == Type.NUMBER) {
        shown = Long.toUnsignedString(numbers.get(descriptor.name()));
      } else if (descriptor.type() == Type.STRING) {
        shown = value.replace(",", ",,");
      } else {
        shown = value;
      }
      if (!text.isEmpty()) {
        text.append(' ');
      }
      text.append(descriptor.name()).append('=').append(shown);
    }
    return text.toString();
  }

  /**
   * The engine's options for a qcow2 image of {@code size} bytes, checked in the order and with the
   * messages of QEMU 7.2's qcow2_co_create_opts and qcow2_co_create.
   */
  CreateOptions toQcow2(long size) throws InvalidOption {
    String compat = get("compat");
    int version = 3;
    if (compat != null) {
      version = switch (compat) {
        case "0.10", "v2" -> 2;
        case "1.1", "v3" -> 3;
        default -> throw new InvalidOption("Parameter 'version' does not accept value '" + compat + "'");
      };
    }
    String backingFormat = get("backing_fmt");
    if (backingFormat != null && !QEMU_DRIVERS.contains(backingFormat)) {
      throw new InvalidOption("Parameter 'backing-fmt' does not accept value '" + backingFormat + "'");
    }
    Preallocation preallocation = preallocation(get("preallocation"), true);
    String compression = get("compression_type");
    if (compression != null && !compression.equals("zlib") && !compression.equals("zstd")) {
      throw new InvalidOption("Parameter 'compression-type' does not accept value '" + compression + "'");
    }
    boolean extendedL2 = bool("extended_l2", false);
    if (extendedL2 && version < 3) {
      throw new InvalidOption("Extended L2 entries are only supported with compatibility level 1.1 and above "
          + "(use version=v3 or greater)");
    }
    long clusterSize = number("cluster_size", 65536);
    if (clusterSize < 512 || clusterSize > (2 << 20) || Long.bitCount(clusterSize) != 1) {
      throw new InvalidOption("Cluster size must be a power of two between 512 and 2048k");
    }
    if (extendedL2 && clusterSize < 16384) {
      throw new InvalidOption("Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
    }
    String backingFile = get("backing_file");
    if (backingFile != null && preallocation != Preallocation.OFF && !extendedL2) {
      throw new InvalidOption("Backing file and preallocation can only be used at the same time if extended_l2 is on");
    }
    if (backingFormat != null && backingFile == null) {
      throw new InvalidOption("Backing format cannot be used without backing file");
    }
    boolean lazyRefcounts = bool("lazy_refcounts", false);
    if (version < 3 && lazyRefcounts) {
      throw new InvalidOption("Lazy refcounts only supported with compatibility level 1.1 and above "
          + "(use version=v3 or greater)");
    }
    long refcountBits = number("refcount_bits", 16);
    if (Long.compareUnsigned(refcountBits, 64) > 0 || Long.bitCount(refcountBits) != 1) {
      throw new InvalidOption("Refcount width must be a power of two and may not exceed 64 bits");
    }
    if (version < 3 && refcountBits != 16) {
      throw new InvalidOption("Different refcount widths than 16 bits require compatibility level 1.1 or above "
          + "(use version=v3 or greater)");
    }
    String dataFile = get("data_file");
    boolean dataFileRaw = bool("data_file_raw", false);
    if (dataFileRaw && dataFile == null) {
      throw new InvalidOption("data-file-raw requires data-file");
    }
    if (dataFileRaw && backingFile != null) {
      throw new InvalidOption("Backing file and data-file-raw cannot be used at the same time");
    }
    if (dataFile != null && version < 3) {
      throw new InvalidOption("External data files are only supported with compatibility level 1.1 and above "
          + "(use version=v3 or greater)");
    }
    if (compression != null && !compression.equals("zlib") && version < 3) {
      throw new InvalidOption("Non-zlib compression type is only supported with compatibility level 1.1 and above "
          + "(use version=v3 or greater)");
    }
    if (backingFormat != null && !backingFormat.equals("raw") && !backingFormat.equals("qcow2")) {
      throw new InvalidOption("Backing format '" + backingFormat + "' is not supported by qcow4j (raw, qcow2)");
    }
    CreateOptions options = CreateOptions.of(size)
        .withClusterSize((int) clusterSize)
        .withCompat(version == 2 ? "0.10" : "1.1")
        .withRefcountBits((int) refcountBits)
        .withLazyRefcounts(lazyRefcounts)
        .withExtendedL2(extendedL2)
        .withCompressionType(compression != null ? compression : "zlib")
        .withPreallocation(preallocation);
    if (dataFile != null) {
      options = options.withDataFile(dataFile, dataFileRaw);
    }
    if (backingFile != null) {
      options = options.withBacking(backingFile, backingFormat);
    }
    return options;
  }

  /** The engine's options for a raw image of {@code size} bytes, checked as QEMU's file driver does. */
  CreateOptions toRaw(long size) throws InvalidOption {
    return CreateOptions.of(size).withPreallocation(preallocation(get("preallocation"), false));
  }

  private static Preallocation preallocation(String value, boolean qcow2) throws InvalidOption {
    if (value == null) {
      return Preallocation.OFF;
    }
    Preallocation mode = switch (value) {
      case "off" -> Preallocation.OFF;
      case "metadata" -> Preallocation.METADATA;
      case "falloc" -> Preallocation.FALLOC;
      case "full" -> Preallocation.FULL;
      default -> throw new InvalidOption("Parameter 'preallocation' does not accept value '" + value + "'");
    };
    if (!qcow2 && mode == Preallocation.METADATA) {
      throw new InvalidOption("Unsupported preallocation mode: metadata");
    }
    return mode;
  }

  private Descriptor descriptor(String name) {
    for (Descriptor descriptor : descriptors) {
      if (descriptor.name().equals(name)) {
        return descriptor;
      }
    }
    return null;
  }

  /** get_opt_value: up to the next single comma, ",," standing for one comma; returns the position after it. */
  private static int readValue(String list, int start, StringBuilder value) {
    int position = start;
    while (position < list.length()) {
      char c = list.charAt(position);
      if (c == ',') {
        if (position + 1 < list.length() && list.charAt(position + 1) == ',') {
          value.append(',');
          position += 2;
          continue;
        }
        break;
      }
      value.append(c);
      position++;
    }
    return position;
  }

  private static boolean isHelp(String value) {
    return value.equals("help") || value.equals("?");
  }

  private static boolean parseBool(String name, String value) throws InvalidOption {
    return switch (value) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw new InvalidOption("Parameter '" + name + "' expects 'on' or 'off'");
    };
  }

  private static long parseNumber(String name, String value) throws InvalidOption {
    Long number = QemuNumbers.parseCInteger(value);
    if (number == null) {
      throw new InvalidOption("Parameter '" + name + "' expects a number");
    }
    return number;
  }

  private static long parseSize(String name, String value) throws InvalidOption {
    try {
      return QemuNumbers.parseSize(value);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new InvalidOption("Value '" + value + "' is out of range for parameter '" + name + "'");
      }
      throw new InvalidOption("Parameter '" + name + "' expects a non-negative number below 2^64\n"
          + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");
    }
  }
}
