package io.qcow4j.spec;

import io.qcow4j.internal.spec.QDict;
import io.qcow4j.internal.spec.QemuJson;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Locking;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.options.OptionSyntax;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * An image as a command line names it: a file name, a "json:{...}" description or an --image-opts
 * option string, read into QEMU's block options as QEMU reads them. This class holds what every
 * format shares (the driver, the file and its locking, read-only, force-share, a disabled
 * backing file); the options of the format itself (backing, data-file, encrypt.*, the qcow2 cache
 * sizes) are read by {@link #formatOptions(ImageFormat)} once the format is known, since a probed
 * format decides which options exist. Parsing only: nothing is opened here.
 *
 * <p>Options QEMU takes that change nothing qcow4j does (cache.direct, cache.no-flush, aio,
 * detect-zeroes, discard, node-name, auto-read-only, pass-discard-*, cache-clean-interval,
 * lazy-refcounts) are checked as QEMU checks them and then have no effect; overlap-check.* choose
 * the metadata a qcow2 write may not overlap ({@link FormatOptions#overlapChecks()}).
 */
public final class ImageSpec {
  private static final List<String> DISCARD = List.of("ignore", "off", "unmap", "on");
  private static final List<String> DETECT_ZEROES = List.of("off", "on", "unmap");

  private final String name;
  private final ImageFormat format;
  private final String filename;
  private final Boolean readOnly;
  private final boolean forceShare;
  private final String forceShareText;
  private final Locking locking;
  private final boolean backingDisabled;
  private final BlockOptions formatOptions;
  private final List<String> warnings;
  /** cache.direct=on: the file is read as with O_DIRECT. */
  private final boolean directIo;
  /** The format's file child; null only for a backing file that names none. */
  private final BlockNode file;
  /** The top node when the spec's driver is no format (a protocol or filter opened directly); else null. */
  private final BlockNode node;

  private ImageSpec(String name, ImageFormat format, BlockNode file, BlockNode node, Boolean readOnly,
      boolean forceShare, String forceShareText, boolean backingDisabled, BlockOptions formatOptions,
      List<String> warnings) {
    this(name, format, file, node, readOnly, forceShare, forceShareText, backingDisabled, formatOptions, warnings,
        false);
  }

  private ImageSpec(String name, ImageFormat format, BlockNode file, BlockNode node, Boolean readOnly,
      boolean forceShare, String forceShareText, boolean backingDisabled, BlockOptions formatOptions,
      List<String> warnings, boolean directIo) {
    this.directIo = directIo;
    this.name = name;
    this.format = format;
    this.file = file;
    this.node = node;
    this.filename = file instanceof BlockNode.File plain ? plain.filename()
        : node != null ? node.bottomFilename() : file != null ? file.bottomFilename() : null;
    Locking locking = file instanceof BlockNode.File plain ? plain.locking() : null;
    this.readOnly = readOnly;
    this.forceShare = forceShare;
    this.forceShareText = forceShareText;
    this.locking = locking;
    this.backingDisabled = backingDisabled;
    this.formatOptions = formatOptions;
    this.warnings = List.copyOf(warnings);
  }

  /**
   * A plain file name, opened as {@code format} (null: probed), with no other option. A "file:"
   * prefix names the file protocol, as QEMU reads it: the file is the rest of the name, written
   * "./NAME" when NAME would itself look like a protocol prefix (a colon before any slash).
   */
  public static ImageSpec ofFilename(String filename, ImageFormat format) {
    Objects.requireNonNull(filename, "filename");
    return new ImageSpec(filename, format, new BlockNode.File("file", withoutFileProtocol(filename), null, false),
        null, null, false, null, false, new BlockOptions(Map.of()), List.of());
  }

  /** QEMU's bdrv_parse_filename_strip_prefix for "file:": the file a "file:NAME" argument names. */
  private static String withoutFileProtocol(String filename) {
    if (!filename.startsWith("file:")) {
      return filename;
    }
    String rest = filename.substring("file:".length());
    return hasProtocol(rest) ? "./" + rest : rest;
  }

  /** QEMU's path_has_protocol: a colon before any slash. */
  private static boolean hasProtocol(String name) {
    int colon = name.indexOf(':');
    int slash = name.indexOf('/');
    return colon >= 0 && (slash < 0 || colon < slash);
  }

  /**
   * An image argument as the tools take it without --image-opts: "json:{...}" is read as QEMU's
   * JSON block options (nested objects or dotted keys), anything else is a file name;
   * {@code format} (-f, null when absent) overrides the JSON's driver.
   */
  public static ImageSpec parse(String argument, ImageFormat format) throws ImageSpecException {
    return parseWithDriver(argument, format == null ? null : format.id());
  }

  /**
   * As {@link #parse(String, ImageFormat)}, with {@code driver} (-f) any driver QEMU's tools take
   * there: a format, or a protocol or filter opened without a format ("null-co", "blkdebug").
   * A plain name with a protocol prefix ("blkdebug:CONF:IMAGE", "null-co://") names that node as
   * the format's file.
   */
  public static ImageSpec parseWithDriver(String argument, String driver) throws ImageSpecException {
    if (!argument.startsWith("json:")) {
      // a format first: the non-format drivers include the plugins, a service look-up
      if (driver != null && isNodeDriver(driver)) {
        Map<String, Object> flat = new LinkedHashMap<>();
        flat.put("driver", driver);
        flat.put("filename", argument);
        return read(argument, new BlockOptions(flat), false, new ArrayList<>());
      }
      ImageFormat format = driver == null ? null : formatNamed(driver);
      if (NodeReader.hasNodeProtocol(argument)) {
        Map<String, Object> flat = new LinkedHashMap<>();
        flat.put("file.filename", argument);
        return read(argument, new BlockOptions(flat), false, new ArrayList<>()).withDefaultFormat(format);
      }
      return ofFilename(argument, format);
    }
    ImageFormat format = driver == null || isNodeDriver(driver) ? null : formatNamed(driver);
    Object parsed;
    try {
      parsed = QemuJson.parse(argument.substring("json:".length()));
    } catch (QemuJson.JsonException e) {
      throw new ImageSpecException("Could not parse the JSON options: " + e.getMessage());
    }
    if (!(parsed instanceof Map<?, ?> object)) {
      throw new ImageSpecException("Invalid JSON object given");
    }
    Map<String, Object> flat = new LinkedHashMap<>();
    flatten("", object, flat);
    if (driver != null) {
      flat.put("driver", driver);
    }
    return read(argument, new BlockOptions(flat), false, new ArrayList<>());
  }

  /**
   * An --image-opts option string ("driver=qcow2,file.filename=x,file.locking=off", ",," for a
   * comma); {@code impliedFile}: a bare first word is the value of "file", as qemu-img and
   * qemu-nbd read it (qemu-io does not).
   */
  public static ImageSpec parseOptions(String options, boolean impliedFile) throws ImageSpecException {
    List<String> warnings = new ArrayList<>();
    List<OptionSyntax.Element> parsed = OptionSyntax.imageOptions(options, impliedFile ? "file" : null, warnings);
    Map<String, Object> flat = new LinkedHashMap<>();
    for (OptionSyntax.Element option : parsed) {
      if (option.name().equals("id") && !isIdentifier(option.value())) {
        throw ImageSpecException.standalone("Parameter 'id' expects an identifier\n"
            + "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
      }
      flat.put(option.name(), option.value());
    }
    try {
      return read(options, new BlockOptions(flat), false, new ArrayList<>(warnings));
    } catch (ImageSpecException e) {
      throw e.withWarnings(warnings);
    }
  }

  /**
   * The spec of an image opened as {@code argument} ("json:{...}" or a file name) with the option
   * string {@code options} laid over it, as qemu-io's reopen -o merges new options into the
   * image's: the option string's values win.
   */
  public static ImageSpec parseMerged(String argument, String options) throws ImageSpecException {
    if (!argument.startsWith("json:")) {
      return parseOptions("filename=" + argument.replace(",", ",,") + "," + options, false);
    }
    Map<String, Object> flat = new LinkedHashMap<>();
    try {
      if (!(QemuJson.parse(argument.substring("json:".length())) instanceof Map<?, ?> object)) {
        throw new ImageSpecException("Invalid JSON object given");
      }
      flatten("", object, flat);
    } catch (QemuJson.JsonException e) {
      throw new ImageSpecException("Could not parse the JSON options: " + e.getMessage());
    }
    List<String> warnings = new ArrayList<>();
    for (OptionSyntax.Element option : OptionSyntax.imageOptions(options, null, warnings)) {
      flat.put(option.name(), option.value());
    }
    return read(argument, new BlockOptions(flat), false, warnings);
  }

  /** QEMU's qdict_flatten: nested objects become dotted keys (winning over a dotted key given too), arrays ".0", ".1". */
  private static void flatten(String prefix, Map<?, ?> object, Map<String, Object> flat) {
    List<Map.Entry<?, ?>> nested = new ArrayList<>();
    for (Map.Entry<?, ?> entry : object.entrySet()) {
      if (entry.getValue() instanceof Map<?, ?> child && !child.isEmpty()) {
        nested.add(entry);
      } else if (entry.getValue() instanceof List<?> list && !list.isEmpty()) {
        for (int index = 0; index < list.size(); index++) {
          Object element = list.get(index);
          String key = prefix + entry.getKey() + "." + index;
          if (element instanceof Map<?, ?> child && !child.isEmpty()) {
            flatten(key + ".", child, flat);
          } else {
            flat.put(key, element);
          }
        }
      } else {
        flat.put(prefix + entry.getKey(), entry.getValue());
      }
    }
    for (Map.Entry<?, ?> entry : nested) {
      flatten(prefix + entry.getKey() + ".", (Map<?, ?>) entry.getValue(), flat);
    }
  }

  /**
   * Reads the options every format shares; {@code partial}: a backing file's options, where the
   * file name and the driver may be left to the overlay's header.
   */
  private static ImageSpec read(String name, BlockOptions options, boolean partial, List<String> warnings)
      throws ImageSpecException {
    String driver = options.take("driver");
    boolean nonFormat = driver != null && !NodeReader.isFormat(driver) && NodeReader.isNonFormat(driver);
    ImageFormat format = driver == null || nonFormat ? null : formatNamed(driver);
    Boolean cacheDirect = options.takeBool("cache.direct");
    BlockNode file = nonFormat ? null : readFile(options, driver != null, partial, Boolean.TRUE.equals(cacheDirect));

    Boolean readOnly = options.takeBool("read-only");
    options.takeBool("auto-read-only");
    String forceShareText = options.has("force-share") ? BlockOptions.scalar(options.raw("force-share")) : null;
    Boolean forceShare = options.takeBool("force-share");
    options.takeBool("cache.no-flush");
    options.takeChoice("detect-zeroes", DETECT_ZEROES);
    String discard = options.take("discard");
    if (discard != null && !DISCARD.contains(discard)) {
      throw new ImageSpecException("Invalid discard option");
    }
    String nodeName = options.take("node-name");
    if (nodeName != null && !isIdentifier(nodeName)) {
      throw new ImageSpecException("Invalid node-name: '" + nodeName + "'");
    }
    BlockNode node = null;
    if (nonFormat) {
      options.put("driver", driver);
      node = NodeReader.node(options, true, Boolean.TRUE.equals(cacheDirect));
    }
    boolean backingDisabled = false;
    if (!nonFormat && options.has("backing")) {
      Object backing = options.raw("backing");
      if (backing == null || "".equals(backing)) {
        if (backing != null) {
          warnings.add("Use of \"backing\": \"\" is deprecated; use \"backing\": null instead");
        }
        options.remove("backing");
        backingDisabled = true;
      }
    }
    return new ImageSpec(name, format, file, node, readOnly, Boolean.TRUE.equals(forceShare), forceShareText,
        backingDisabled, options, warnings, Boolean.TRUE.equals(cacheDirect));
  }

  /** A format node used as a child (of blkdebug, a filter): {@code filename} the name its parent passes down. */
  static ImageSpec nested(BlockOptions options, String filename) throws ImageSpecException {
    if (filename != null) {
      options.put("filename", filename);
    }
    return read(filename == null ? "" : filename, options, false, new ArrayList<>());
  }

  /**
   * Reads the format's file child: "file" (a node reference, refused), "file.*" or a top-level
   * "filename"; null for a backing file that names none ({@code partial}).
   */
  private static BlockNode readFile(BlockOptions options, boolean hasDriver, boolean partial, boolean cacheDirect)
      throws ImageSpecException {
    String topFilename = options.take("filename");
    boolean named = options.has("file") || topFilename != null;
    BlockOptions peek = options.copy().extract("file");
    if (!named && peek.isEmpty()) {
      if (partial) {
        return null;
      }
      throw new ImageSpecException(hasDriver ? "A block device must be specified for \"file\""
          : "Must specify either driver or file");
    }
    if (partial && topFilename == null && !options.has("file") && !peek.has("filename")
        && (!peek.has("driver") || "file".equals(BlockOptions.scalar(peek.raw("driver"))))) {
      // a backing file's file options without its name, which the overlay's header gives
      BlockOptions file = options.extract("file");
      file.take("driver");
      file.put("filename", "\0");
      BlockNode.File read = (BlockNode.File) NodeReader.node(file, true, cacheDirect);
      return new BlockNode.File("file", null, read.locking(), read.named());
    }
    return NodeReader.child(options, "file", topFilename, true, cacheDirect);
  }

  static ImageFormat formatNamed(String driver) throws ImageSpecException {
    try {
      return ImageFormat.parse(driver);
    } catch (UnsupportedFeatureException e) {
      throw new ImageSpecException(e.getMessage());
    }
  }

  private static void refuseLeftover(BlockOptions options, String message) throws ImageSpecException {
    String key = options.firstKey();
    if (key != null) {
      throw new ImageSpecException(message + key + "'");
    }
  }

  static String cannotFind(String reference) {
    return "Cannot find device='" + reference + "' nor node-name='" + reference + "'";
  }

  /**
   * Whether {@code driver} (as -f gives it) names a node qcow4j opens without a format above it: a
   * protocol ("file", "null-co", "blkdebug", a plugin's) or a filter ("copy-on-read", "compress").
   */
  public static boolean isNodeDriver(String driver) {
    return !NodeReader.isFormat(driver) && NodeReader.isNonFormat(driver);
  }

  /** Whether {@code driver} names a protocol driver (one with QEMU's protocol_name): a node driver but no filter. */
  public static boolean isProtocolDriver(String driver) {
    return isNodeDriver(driver) && !driver.equals("copy-on-read") && !driver.equals("compress");
  }

  /** QEMU's id_wellformed: a letter, then letters, digits, '-', '.' or '_'. */
  static boolean isIdentifier(String text) {
    if (text.isEmpty() || !isAsciiLetter(text.charAt(0))) {
      return false;
    }
    for (int i = 1; i < text.length(); i++) {
      char c = text.charAt(i);
      if (!isAsciiLetter(c) && !(c >= '0' && c <= '9') && c != '-' && c != '.' && c != '_') {
        return false;
      }
    }
    return true;
  }

  private static boolean isAsciiLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  /** The spec as given on the command line: the name QEMU's messages quote ("Could not open '...'"). */
  public String name() {
    return name;
  }

  /** The format the spec names (driver or -f); null when it is to be probed. */
  public ImageFormat format() {
    return format;
  }

  /** The image file's name as written; null only for a backing file whose name the overlay records. */
  public String filename() {
    return filename;
  }

  /** The image file; null only for a backing file whose name the overlay records. */
  public Path path() throws ImageSpecException {
    if (filename == null) {
      return null;
    }
    try {
      return Path.of(filename);
    } catch (InvalidPathException e) {
      throw new ImageSpecException("Invalid file name '" + filename + "': " + e.getReason());
    }
  }

  /** The format's file child (a file, blkdebug, a null device...); null only for a backing file that names none. */
  public BlockNode file() {
    return file;
  }

  /**
   * The top node when the spec's driver is no format ("file", "null-co", "blkdebug",
   * "copy-on-read"...): QEMU opens it without a format above it. Null for a format (named or probed).
   */
  public BlockNode node() {
    return node;
  }

  /** Whether the image is a format over a plain host file (the common case: no other node in between). */
  public boolean overPlainFile() {
    return node == null && (file == null || file instanceof BlockNode.File);
  }

  /** read-only as the spec sets it; null when the command decides. */
  public Boolean readOnly() {
    return readOnly;
  }

  /** Whether the spec asks for force-share (force-share=on, or -U applied with {@link #withForceShare()}). */
  public boolean forceShare() {
    return forceShare;
  }

  /**
   * The force-share value as written in the spec (null when absent): with --image-opts, QEMU's
   * tools refuse -U unless it is exactly "on".
   */
  public String forceShareText() {
    return forceShareText;
  }

  /** file.locking; null when the spec leaves it to the default. */
  public Locking locking() {
    return locking;
  }

  /** Whether the spec turns the backing file off ("backing": null, or the deprecated ""). */
  public boolean backingDisabled() {
    return backingDisabled;
  }

  /** QEMU's warnings about deprecated forms in the spec, to print before opening. */
  public List<String> warnings() {
    return warnings;
  }

  /** Whether the spec is a plain file name (no options of its own besides the format). */
  public boolean isPlainFilename() {
    return name.equals(filename) && formatOptions.isEmpty() && readOnly == null && !forceShare && locking == null
        && !backingDisabled;
  }

  /** This spec with force-share on (qemu-img's -U). */
  public ImageSpec withForceShare() {
    return new ImageSpec(name, format, file, node, readOnly, true, forceShareText, backingDisabled,
        formatOptions, warnings);
  }

  /** This spec read as {@code value} when it names no format itself (a backing file's recorded format). */
  public ImageSpec withDefaultFormat(ImageFormat value) {
    return format != null || node != null ? this : new ImageSpec(name, value, file, node, readOnly, forceShare,
        forceShareText, backingDisabled, formatOptions, warnings);
  }

  /** This spec of a file named {@code value} when it names none itself (a backing file's recorded name). */
  public ImageSpec withDefaultFilename(String value) {
    if (filename != null) {
      return this;
    }
    Locking fileLocking = file instanceof BlockNode.File plain ? plain.locking() : null;
    return new ImageSpec(name, format, new BlockNode.File("file", value, fileLocking, false), node, readOnly,
        forceShare, forceShareText, backingDisabled, formatOptions, warnings);
  }

  /**
   * The open options for this spec: {@code defaults} (the command's) with the spec's read-only,
   * format, locking, force-share and backing settings; force-share on a read-write open is
   * refused as QEMU refuses it.
   */
  public OpenOptions openOptions(OpenOptions defaults) throws ImageSpecException {
    OpenOptions options = defaults;
    if (readOnly != null) {
      options = options.withReadOnly(readOnly);
    }
    if (format != null) {
      options = options.withFormat(format);
    }
    if (locking != null) {
      options = options.withLocking(locking);
    }
    if (forceShare) {
      if (!options.readOnly()) {
        throw new ImageSpecException("force-share=on can only be used with read-only images");
      }
      options = options.withForceShare(true);
    }
    if (backingDisabled) {
      options = options.withBackingPolicy(BackingPolicy.IGNORE);
    }
    if (directIo) {
      options = options.withDirectIo(true);
    }
    return options;
  }

  /**
   * The options of {@code actual}, the image's format (named or probed): a qcow2 image's backing,
   * data-file, encrypt.* and runtime options, a raw image's none; an option the format does not
   * have is refused by name as QEMU refuses it.
   */
  public FormatOptions formatOptions(ImageFormat actual) throws ImageSpecException {
    BlockOptions options = formatOptions.copy();
    return switch (actual) {
      case QCOW2 -> FormatOptions.readQcow2(options, backingDisabled);
      case RAW -> FormatOptions.readRaw(options);
      case LUKS -> FormatOptions.readLuks(options);
      case VMDK -> FormatOptions.readOther(options, "vmdk");
      case VPC -> FormatOptions.readVpc(options);
      default -> FormatOptions.readOther(options, actual.id());
    };
  }

  /**
   * The name QEMU gives the open image (its bs->filename, as bdrv_refresh_filename makes it): the
   * file name as written, one rebuilt from the nodes ("blkdebug:CONF:IMAGE"), or "json:{...}" when
   * the spec holds an option that decides how the image is read (encrypt.key-secret, raw's
   * offset and size, blkdebug's rules), with the image's format {@code actual}.
   */
  public String displayName(ImageFormat actual) {
    if (node != null) {
      return NodeNames.name(node);
    }
    String exact = exactName(actual);
    return exact != null ? exact : "json:" + fullOptions(actual).toJson();
  }

  /** The exact file name of this format node (null: it needs its options); {@code actual} null when unknown. */
  String exactName(ImageFormat actual) {
    if (node != null) {
      return NodeNames.exact(node);
    }
    if (!strongOptions(actual).keys().isEmpty() || file == null) {
      return null;
    }
    return file instanceof BlockNode.File plain ? plain.filename() : NodeNames.exact(file);
  }

  /** This format node's full open options: its driver, strong options and file child's. */
  QDict fullOptions(ImageFormat actual) {
    if (node != null) {
      return NodeNames.options(node);
    }
    QDict options = strongOptions(actual);
    if (actual != null) {
      options.put("driver", actual.id());
    }
    if (file != null) {
      options.put("file", NodeNames.options(file));
    }
    return options;
  }

  /** The format's strong runtime options the spec sets (qcow2's encrypt.key-secret, luks's key-secret, raw's offset and size, vpc's force_size_calc). */
  private QDict strongOptions(ImageFormat actual) {
    QDict strong = new QDict();
    if (actual == null) {
      return strong;
    }
    List<String> keys = switch (actual) {
      case QCOW2 -> List.of("encrypt.key-secret");
      case LUKS -> List.of("key-secret");
      case RAW -> List.of("offset", "size");
      case VPC -> List.of("force_size_calc");
      default -> List.of();
    };
    for (String key : keys) {
      if (formatOptions.has(key)) {
        strong.put(key, formatOptions.raw(key));
      }
    }
    return strong;
  }

  /** A backing file's spec, read from the "backing.*" options of its overlay. */
  static ImageSpec backing(String name, BlockOptions options) throws ImageSpecException {
    return read(name, options, true, new ArrayList<>());
  }

  @Override
  public String toString() {
    return "ImageSpec[" + name + "]";
  }
}
