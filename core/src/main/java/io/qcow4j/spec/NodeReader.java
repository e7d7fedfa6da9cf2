package io.qcow4j.spec;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Locking;
import io.qcow4j.internal.storage.ProtocolDrivers;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.storage.ProtocolDriver;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the nodes of QEMU's block graph below (or instead of) an image's format from flat block
 * options, as QEMU's bdrv_open_child and each driver's open read them: the child's driver named,
 * found from a file name's protocol prefix, or (for a child QEMU probes) a format to probe.
 */
final class NodeReader {
  /** Protocol and filter drivers qcow4j opens itself. */
  static final Set<String> BUILT_IN = Set.of("file", "host_device", "host_cdrom", "null-co", "null-aio", "blkdebug",
      "copy-on-read", "compress", "quorum");
  /** QEMU's other drivers: known, not supported here. */
  private static final Set<String> OTHER_DRIVERS = Set.of("nbd", "nfs", "iscsi", "iser", "rbd", "ssh", "http",
      "https", "ftp", "ftps", "gluster", "nvme", "blkverify", "blkreplay", "blklogwrites", "throttle", "preallocate",
      "snapshot-access", "vvfat", "replication");
  private static final List<String> DISCARD = List.of("ignore", "off", "unmap", "on");
  private static final List<String> DETECT_ZEROES = List.of("off", "on", "unmap");
  private static final List<String> AIO = List.of("threads", "native", "io_uring");
  private static final List<String> LOCKING = List.of("on", "off", "auto");

  private NodeReader() {}

  /** Whether {@code driver} names a node qcow4j opens that is no format (a protocol, a filter, a plugin). */
  static boolean isNonFormat(String driver) {
    return BUILT_IN.contains(driver) || ProtocolDrivers.named(driver).isPresent();
  }

  /**
   * The child {@code name} of a node: "name" (a node reference, refused) or "name.*";
   * {@code filename} (nullable) the file name the parent passes down; {@code protocol} whether the
   * child is opened as a protocol (QEMU's BDRV_O_PROTOCOL) rather than probed for a format.
   */
  static BlockNode child(BlockOptions options, String name, String filename, boolean protocol, boolean cacheDirect)
      throws ImageSpecException {
    String reference = options.has(name) ? options.take(name) : null;
    BlockOptions child = options.extract(name);
    if (reference != null) {
      throw new ImageSpecException(child.isEmpty() && filename == null ? ImageSpec.cannotFind(reference)
          : "Cannot reference an existing block device with additional options or a new filename");
    }
    if (filename != null) {
      if (child.has("filename")) {
        throw new ImageSpecException("Can't specify 'file' and 'filename' options at the same time");
      }
      child.put("filename", filename);
    }
    if (child.isEmpty()) {
      throw new ImageSpecException("A block device must be specified for \"" + name + "\"");
    }
    return node(child, protocol, cacheDirect);
  }

  /** A node from its own options (its "driver" among them). */
  static BlockNode node(BlockOptions options, boolean protocol, boolean cacheDirect) throws ImageSpecException {
    String driver = options.take("driver");
    if (driver == null && !protocol) {
      return new BlockNode.Format(ImageSpec.nested(options, null));
    }
    boolean named = driver != null;
    if (driver == null) {
      String filename = options.take("filename");
      if (filename == null) {
        throw new ImageSpecException("Must specify either driver or file");
      }
      driver = protocolOf(filename);
      options.put("filename", filename);
    }
    return switch (driver) {
      case "file", "host_device", "host_cdrom" -> file(options, driver, named, cacheDirect);
      case "null-co", "null-aio" -> nullNode(options, driver);
      case "blkdebug" -> blkdebug(options, cacheDirect);
      case "copy-on-read", "compress" -> filter(options, driver, cacheDirect);
      case "quorum" -> quorum(options, cacheDirect);
      default -> other(options, driver);
    };
  }

  /** QEMU's bdrv_find_protocol: the driver a file name selects ("file" without a protocol prefix). */
  static String protocolOf(String filename) throws ImageSpecException {
    int colon = filename.indexOf(':');
    int slash = filename.indexOf('/');
    if (colon < 0 || (slash >= 0 && slash < colon)) {
      return "file";
    }
    String prefix = filename.substring(0, colon);
    return switch (prefix) {
      case "file", "host_device", "host_cdrom", "blkdebug", "null-co", "null-aio" -> prefix;
      default -> ProtocolDrivers.forProtocol(prefix).map(ProtocolDriver::name)
          .orElseThrow(() -> new ImageSpecException("Unknown protocol '" + prefix + "'"));
    };
  }

  /** Whether a plain image name's protocol prefix names a node other than a file ("blkdebug:", "null-co://"). */
  static boolean hasNodeProtocol(String filename) {
    try {
      String driver = protocolOf(filename);
      return !driver.equals("file") && !driver.equals("host_device") && !driver.equals("host_cdrom");
    } catch (ImageSpecException e) {
      return false;
    }
  }

  private static BlockNode file(BlockOptions file, String driver, boolean named, boolean cacheDirect)
      throws ImageSpecException {
    String filename = file.take("filename");
    if (filename != null && filename.startsWith(driver + ":")) {
      filename = filename.substring(driver.length() + 1);
    }
    if (filename == null || filename.isEmpty()) {
      throw new ImageSpecException("The '" + driver + "' block driver requires a file name");
    }
    String lockingText = file.takeChoice("locking", LOCKING);
    Locking locking = lockingText == null ? null : Locking.parse(lockingText);
    String aio = file.takeChoice("aio", AIO);
    file.takeNumber("aio-max-batch");
    file.takeBool("drop-cache");
    file.takeBool("x-check-cache-dropped");
    String prManager = file.take("pr-manager");
    if (prManager != null) {
      throw new ImageSpecException("No persistent reservation manager with id '" + prManager + "'");
    }
    Boolean fileCacheDirect = takeGeneric(file);
    if ("native".equals(aio) && !(fileCacheDirect != null ? fileCacheDirect : cacheDirect)) {
      throw new ImageSpecException("aio=native was specified, but it requires cache.direct=on, which was not specified.");
    }
    refuseLeftover(file, "Block protocol '" + driver + "' doesn't support the option '");
    return new BlockNode.File(driver, filename, locking, named);
  }

  private static BlockNode nullNode(BlockOptions options, String driver) throws ImageSpecException {
    String filename = options.take("filename");
    if (filename != null && !filename.equals(driver + "://")) {
      throw new ImageSpecException("The only allowed filename for this driver is '" + driver + "://'");
    }
    Long size = options.takeSize("size");
    Long latency = options.takeNumber("latency-ns");
    Boolean readZeroes = options.takeBool("read-zeroes");
    takeGeneric(options);
    refuseLeftover(options, "Block protocol '" + driver + "' doesn't support the option '");
    if (latency != null && latency < 0) {
      throw new ImageSpecException("latency-ns is invalid");
    }
    return new BlockNode.Null(driver, size == null ? 1L << 30 : size, Boolean.TRUE.equals(readZeroes),
        latency == null ? 0 : latency);
  }

  private static BlockNode blkdebug(BlockOptions options, boolean cacheDirect) throws ImageSpecException {
    String filename = options.take("filename");
    String config = null;
    String image = null;
    if (filename != null) {
      if (filename.startsWith("blkdebug:")) {
        String rest = filename.substring("blkdebug:".length());
        int colon = rest.indexOf(':');
        if (colon < 0) {
          throw new ImageSpecException("blkdebug requires both config file and image path");
        }
        if (colon > 0) {
          config = rest.substring(0, colon);
        }
        image = rest.substring(colon + 1);
      } else {
        image = filename;
      }
    }
    String configOption = options.take("config");
    if (configOption != null) {
      config = configOption;
    }
    long align = size(options, "align");
    long maxTransfer = size(options, "max-transfer");
    long optWriteZero = size(options, "opt-write-zero");
    long maxWriteZero = size(options, "max-write-zero");
    long optDiscard = size(options, "opt-discard");
    long maxDiscard = size(options, "max-discard");
    List<BlkdebugRule> rules = BlkdebugRules.fromOptions(options);
    options.extract("take-child-perms");
    options.extract("unshare-child-perms");
    takeGeneric(options);
    BlockNode imageNode = child(options, "image", image, true, cacheDirect);
    refuseLeftover(options, "Block protocol 'blkdebug' doesn't support the option '");
    BlkdebugRules.checkLimits(align, maxTransfer, optWriteZero, maxWriteZero, optDiscard, maxDiscard);
    return new BlockNode.Blkdebug(imageNode, config, align, maxTransfer, optWriteZero, maxWriteZero, optDiscard,
        maxDiscard, rules);
  }

  private static long size(BlockOptions options, String key) throws ImageSpecException {
    Long value = options.takeSize(key);
    return value == null ? 0 : value;
  }

  private static BlockNode filter(BlockOptions options, String driver, boolean cacheDirect)
      throws ImageSpecException {
    String filename = options.take("filename");
    takeGeneric(options);
    BlockNode file = child(options, "file", filename, false, cacheDirect);
    refuseLeftover(options, "Block format '" + driver + "' does not support the option '");
    return new BlockNode.Filter(driver, file);
  }

  /** quorum_open: children.0, children.1... (each probed for a format), vote-threshold, read-pattern. */
  private static BlockNode quorum(BlockOptions options, boolean cacheDirect) throws ImageSpecException {
    options.take("filename");
    Long threshold = options.takeNumber("vote-threshold");
    String pattern = options.take("read-pattern");
    Boolean blkverify = options.takeBool("blkverify");
    Boolean rewrite = options.takeBool("rewrite-corrupted");
    takeGeneric(options);
    int count = 0;
    while (options.has("children." + count) || !options.copy().extract("children." + count).isEmpty()) {
      count++;
    }
    if (count < 1) {
      throw new ImageSpecException("Number of provided children must be 1 or more");
    }
    long votes = threshold == null ? 0 : threshold;
    if (votes < 1) {
      throw new ImageSpecException("Parameter 'vote-threshold' expects a value >= 1");
    }
    if (votes > count) {
      throw new ImageSpecException("threshold may not exceed children count");
    }
    if (pattern != null && !pattern.equals("quorum") && !pattern.equals("fifo")) {
      throw new ImageSpecException("Please set read-pattern as fifo or quorum");
    }
    if (Boolean.TRUE.equals(blkverify) || Boolean.TRUE.equals(rewrite)) {
      throw new ImageSpecException("quorum's blkverify and rewrite-corrupted are not supported by qcow4j");
    }
    java.util.List<BlockNode> children = new java.util.ArrayList<>();
    for (int index = 0; index < count; index++) {
      children.add(child(options, "children." + index, null, false, cacheDirect));
    }
    refuseLeftover(options, "Block protocol 'quorum' doesn't support the option '");
    return new BlockNode.Quorum(children, votes, "fifo".equals(pattern));
  }

  private static BlockNode other(BlockOptions options, String driver) throws ImageSpecException {
    if (isFormat(driver)) {
      options.put("driver", driver);
      String filename = options.take("filename");
      return new BlockNode.Format(ImageSpec.nested(options, filename));
    }
    var plugin = ProtocolDrivers.named(driver);
    if (plugin.isPresent()) {
      takeGeneric(options);
      Map<String, String> values = new LinkedHashMap<>();
      for (Map.Entry<String, Object> entry : options.asMap().entrySet()) {
        String text = BlockOptions.scalar(entry.getValue());
        if (text == null) {
          throw new ImageSpecException("Block protocol '" + driver + "' doesn't support the option '"
              + entry.getKey() + "'");
        }
        values.put(entry.getKey(), text);
      }
      // the plugin takes them all: none is left for a format above it
      for (String key : values.keySet()) {
        options.remove(key);
      }
      return new BlockNode.Plugin(driver, values);
    }
    if (OTHER_DRIVERS.contains(driver)) {
      throw new ImageSpecException("Driver '" + driver + "' is not supported by qcow4j");
    }
    throw new ImageSpecException("Unknown driver '" + driver + "'");
  }

  /** Whether {@code driver} is an image format QEMU knows (qcow4j reading it or not). */
  static boolean isFormat(String driver) {
    for (ImageFormat format : ImageFormat.values()) {
      if (format.id().equals(driver)) {
        return true;
      }
    }
    return FormatProber.FORMATS.contains(driver);
  }

  /**
   * Takes the options every node takes (read-only, force-share, cache.*, detect-zeroes, discard,
   * node-name), checked as QEMU checks them; the node's cache.direct, null when not set.
   */
  static Boolean takeGeneric(BlockOptions options) throws ImageSpecException {
    options.takeBool("read-only");
    options.takeBool("auto-read-only");
    options.takeBool("force-share");
    Boolean cacheDirect = options.takeBool("cache.direct");
    options.takeBool("cache.no-flush");
    options.takeChoice("detect-zeroes", DETECT_ZEROES);
    String discard = options.take("discard");
    if (discard != null && !DISCARD.contains(discard)) {
      throw new ImageSpecException("Invalid discard option");
    }
    String nodeName = options.take("node-name");
    if (nodeName != null && !ImageSpec.isIdentifier(nodeName)) {
      throw new ImageSpecException("Invalid node-name: '" + nodeName + "'");
    }
    return cacheDirect;
  }

  private static void refuseLeftover(BlockOptions options, String message) throws ImageSpecException {
    String key = options.firstKey();
    if (key != null) {
      throw new ImageSpecException(message + key + "'");
    }
  }
}
