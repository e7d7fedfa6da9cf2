package io.qcow4j.spec;

import java.util.List;

/**
 * The options of an image's format driver, read from its spec once the format is known: for
 * qcow2 the backing file (the header's, none, or a spec of its own), the external data file, the
 * encryption secret and the runtime options (cache sizes and the checks QEMU makes of them);
 * for raw none. {@link #checkQcow2(int, int, long, boolean, boolean, boolean)} makes the checks that need the
 * image's header.
 */
public final class FormatOptions {
  /** Bytes of the refcount block cache for each byte of the L2 cache, as the engine splits its budget. */
  private static final int L2_SHARE_NINTHS = 8;
  private static final List<String> OVERLAP_TEMPLATES = List.of("none", "constant", "cached", "all");
  private static final List<String> OVERLAP_STRUCTURES = List.of("main-header", "active-l1", "active-l2",
      "refcount-table", "refcount-block", "snapshot-table", "inactive-l1", "inactive-l2", "bitmap-directory");

  /** What to open below a qcow2 image. */
  public sealed interface Backing {}

  /** The backing file the header names, as the header names it. */
  public record FromHeader() implements Backing {}

  /** No backing file: unallocated ranges read as zeros ("backing": null). */
  public record Disabled() implements Backing {}

  /**
   * The backing file as "backing.*" describes it; where the spec names no file or format the
   * header's are used. {@code optionName} is the first such option, for messages.
   */
  public record Override(ImageSpec spec, String optionName) implements Backing {}

  /** QEMU's cache bounds (block/qcow2.h): L2 cache entries, refcount cache clusters, the default L2 cache. */
  private static final long MIN_L2_CACHE_ENTRIES = 2;
  private static final long MIN_REFCOUNT_CACHE_CLUSTERS = 4;
  private static final long DEFAULT_L2_CACHE_MAX_BYTES = 32L << 20;

  private static final FormatOptions NONE = new FormatOptions(new FromHeader(), null, null, null, null, null, null,
      null, null, null, null, null, null, null);

  /** QEMU's overlap check templates as masks of its QCOW2_OL_* bits (block/qcow2.h). */
  private static final int OVERLAP_CONSTANT = 0x12B;
  private static final int OVERLAP_CACHED = 0x17F;
  private static final int OVERLAP_ALL = 0x1FF;

  private final Backing backing;
  private final String dataFile;
  private final String keySecret;
  private final String encryptFormat;
  private final Long cacheBytes;
  private final Boolean lazyRefcounts;
  private final Long l2CacheEntrySize;
  private final Long rawOffset;
  private final Long rawSize;
  private final BlockNode dataFileNode;
  /** The three cache sizes as given (cache-size, l2-cache-size, refcount-cache-size), null when not. */
  private final Long combinedCacheSize;
  private final Long l2CacheSize;
  private final Long refcountCacheSize;
  /** The overlap checks the options ask for (QCOW2_OL_* bits), null when they ask for none in particular. */
  private final Integer overlapChecks;
  /** vpc's force_size_calc ("chs" or "current_size"), null when not given. */
  private final String vpcSizeCalc;

  private FormatOptions(Backing backing, String dataFile, BlockNode dataFileNode, String keySecret,
      String encryptFormat, Long cacheBytes, Boolean lazyRefcounts, Long l2CacheEntrySize, Long combinedCacheSize,
      Long l2CacheSize, Long refcountCacheSize, Long rawOffset, Long rawSize, Integer overlapChecks) {
    this(backing, dataFile, dataFileNode, keySecret, encryptFormat, cacheBytes, lazyRefcounts, l2CacheEntrySize,
        combinedCacheSize, l2CacheSize, refcountCacheSize, rawOffset, rawSize, overlapChecks, null);
  }

  private FormatOptions(Backing backing, String dataFile, BlockNode dataFileNode, String keySecret,
      String encryptFormat, Long cacheBytes, Boolean lazyRefcounts, Long l2CacheEntrySize, Long combinedCacheSize,
      Long l2CacheSize, Long refcountCacheSize, Long rawOffset, Long rawSize, Integer overlapChecks,
      String vpcSizeCalc) {
    this.vpcSizeCalc = vpcSizeCalc;
    this.overlapChecks = overlapChecks;
    this.backing = backing;
    this.dataFile = dataFile;
    this.dataFileNode = dataFileNode;
    this.keySecret = keySecret;
    this.encryptFormat = encryptFormat;
    this.cacheBytes = cacheBytes;
    this.lazyRefcounts = lazyRefcounts;
    this.l2CacheEntrySize = l2CacheEntrySize;
    this.combinedCacheSize = combinedCacheSize;
    this.l2CacheSize = l2CacheSize;
    this.refcountCacheSize = refcountCacheSize;
    this.rawOffset = rawOffset;
    this.rawSize = rawSize;
  }

  /** No options: the header's backing file and data file, the default caches. */
  public static FormatOptions none() {
    return NONE;
  }

  static FormatOptions readRaw(BlockOptions options) throws ImageSpecException {
    Long offset = options.takeSize("offset");
    Long size = options.takeSize("size");
    refuseLeftover(options, "raw");
    if (offset == null && size == null) {
      return NONE;
    }
    return new FormatOptions(NONE.backing, null, null, null, null, null, null, null, null, null, null, offset, size,
        null);
  }

  /**
   * The metadata overlap checks a qcow2 image makes before each write, as QEMU's overlap-check
   * options set them: bit N is QEMU's QCOW2_OL_* bit N (main-header, active-l1, active-l2,
   * refcount-table, refcount-block, snapshot-table, inactive-l1, inactive-l2, bitmap-directory);
   * QEMU's default template "cached" (all but inactive-l2) when no option sets them.
   */
  public int overlapChecks() {
    return overlapChecks == null ? OVERLAP_CACHED : overlapChecks;
  }

  /** The raw format's offset option: where its window into the file starts; null when not set. */
  public Long rawOffset() {
    return rawOffset;
  }

  /** The raw format's size option: the window's length; null when not set (to the end of the file). */
  public Long rawSize() {
    return rawSize;
  }

  /** The options of a raw LUKS image: its key-secret. */
  static FormatOptions readLuks(BlockOptions options) throws ImageSpecException {
    String keySecret = options.take("key-secret");
    refuseLeftover(options, "luks");
    return keySecret == null ? NONE : new FormatOptions(NONE.backing, null, null, keySecret, null, null, null, null,
        null, null, null, null, null, null);
  }

  /**
   * The options of a VHD image: force_size_calc, how vpc_open chooses the virtual size ("chs" or
   * "current_size"; any other word refused with QEMU's message).
   */
  static FormatOptions readVpc(BlockOptions options) throws ImageSpecException {
    String sizeCalc = options.take("force_size_calc");
    refuseLeftover(options, "vpc");
    if (sizeCalc == null) {
      return NONE;
    }
    if (!sizeCalc.equals("chs") && !sizeCalc.equals("current_size")) {
      throw new ImageSpecException("Invalid size calculation mode: '" + sizeCalc + "'");
    }
    return new FormatOptions(NONE.backing, null, null, null, null, null, null, null, null, null, null, null, null,
        null, sizeCalc);
  }

  /** vpc's force_size_calc open option ("chs" or "current_size"); null when not given (chosen by the creator). */
  public String vpcSizeCalc() {
    return vpcSizeCalc;
  }

  /** The options of a read-only format (vmdk, vdi, qed, qcow...): none that qcow4j takes, each refused by name. */
  static FormatOptions readOther(BlockOptions options, String format) throws ImageSpecException {
    refuseLeftover(options, format);
    return NONE;
  }

  static FormatOptions readQcow2(BlockOptions options, boolean backingDisabled) throws ImageSpecException {
    Backing backing = readBacking(options, backingDisabled);
    BlockNode[] dataFileNode = new BlockNode[1];
    String dataFile = readDataFile(options, dataFileNode);
    BlockOptions encrypt = options.extract("encrypt");
    String keySecret = encrypt.take("key-secret");
    String encryptFormat = encrypt.take("format");

    Boolean lazyRefcounts = options.takeBool("lazy-refcounts");
    options.takeBool("pass-discard-request");
    options.takeBool("pass-discard-snapshot");
    options.takeBool("pass-discard-other");
    String overlapCheck = options.take("overlap-check");
    String overlapTemplate = options.take("overlap-check.template");
    Boolean[] overlapFlags = new Boolean[OVERLAP_STRUCTURES.size()];
    for (int bit = 0; bit < overlapFlags.length; bit++) {
      overlapFlags[bit] = options.takeBool("overlap-check." + OVERLAP_STRUCTURES.get(bit));
    }
    Long cacheSize = bytes(options.takeSize("cache-size"));
    Long l2CacheSize = bytes(options.takeSize("l2-cache-size"));
    Long l2CacheEntrySize = bytes(options.takeSize("l2-cache-entry-size"));
    Long refcountCacheSize = bytes(options.takeSize("refcount-cache-size"));
    Long cleanInterval = options.takeNumber("cache-clean-interval");

    if (cacheSize != null) {
      if (l2CacheSize != null && refcountCacheSize != null) {
        throw new ImageSpecException("cache-size, l2-cache-size and refcount-cache-size may not be set at the same time");
      } else if (l2CacheSize != null && l2CacheSize > cacheSize) {
        throw new ImageSpecException("l2-cache-size may not exceed cache-size");
      } else if (refcountCacheSize != null && refcountCacheSize > cacheSize) {
        throw new ImageSpecException("refcount-cache-size may not exceed cache-size");
      }
    }
    if (cleanInterval != null && Long.compareUnsigned(cleanInterval, 0xFFFF_FFFFL) > 0) {
      throw new ImageSpecException("Cache clean interval too big");
    }
    if (overlapCheck != null && overlapTemplate != null && !overlapCheck.equals(overlapTemplate)) {
      throw new ImageSpecException("Conflicting values for qcow2 options 'overlap-check' ('" + overlapCheck
          + "') and 'overlap-check.template' ('" + overlapTemplate + "')");
    }
    String template = overlapCheck != null ? overlapCheck : overlapTemplate;
    if (template != null && !OVERLAP_TEMPLATES.contains(template)) {
      throw new ImageSpecException("Unsupported value '" + template + "' for qcow2 option 'overlap-check'. "
          + "Allowed are any of the following: none, constant, cached, all");
    }
    refuseLeftover(options, "qcow2");
    // qcow2_update_options_prepare: the template's bits, each of which its own option overrides
    int templateBits = template == null ? OVERLAP_CACHED : switch (template) {
      case "none" -> 0;
      case "constant" -> OVERLAP_CONSTANT;
      case "all" -> OVERLAP_ALL;
      default -> OVERLAP_CACHED;
    };
    int overlapBits = 0;
    for (int bit = 0; bit < overlapFlags.length; bit++) {
      boolean on = overlapFlags[bit] != null ? overlapFlags[bit] : (templateBits & (1 << bit)) != 0;
      overlapBits |= on ? 1 << bit : 0;
    }
    return new FormatOptions(backing, dataFile, dataFileNode[0], keySecret, encryptFormat,
        l2Budget(cacheSize, l2CacheSize, refcountCacheSize), lazyRefcounts, l2CacheEntrySize,
        cacheSize, l2CacheSize, refcountCacheSize, null, null, overlapBits);
  }

  /** A size option's unsigned value as a long; 2^63 bytes or more, which no cache reaches, as Long.MAX_VALUE. */
  private static Long bytes(Long unsigned) {
    if (unsigned == null || unsigned >= 0) {
      return unsigned;
    }
    return Long.MAX_VALUE;
  }

  /**
   * The engine's metadata cache budget (the L2 cache; refcount blocks get an eighth of it) from
   * QEMU's three sizes: l2-cache-size as given; else cache-size less the refcount part (given, or
   * as the engine splits); null when neither is set.
   */
  private static Long l2Budget(Long cacheSize, Long l2CacheSize, Long refcountCacheSize) {
    Long bytes = null;
    if (l2CacheSize != null) {
      bytes = l2CacheSize;
    } else if (cacheSize != null) {
      bytes = refcountCacheSize != null ? cacheSize - refcountCacheSize : cacheSize / 9 * L2_SHARE_NINTHS;
    }
    return bytes == null ? null : Math.max(bytes, 4096);
  }

  private static Backing readBacking(BlockOptions options, boolean backingDisabled) throws ImageSpecException {
    if (backingDisabled) {
      return new Disabled();
    }
    String reference = options.has("backing") ? options.take("backing") : null;
    BlockOptions nested = options.extract("backing");
    if (reference != null) {
      throw new ImageSpecException("Could not open backing file: " + (nested.isEmpty() ? ImageSpec.cannotFind(reference)
          : "Cannot reference an existing block device with additional options or a new filename"));
    }
    if (nested.isEmpty()) {
      return new FromHeader();
    }
    String optionName = "backing." + nested.firstKey();
    try {
      return new Override(ImageSpec.backing("backing", nested), optionName);
    } catch (ImageSpecException e) {
      throw e.prefixed("Could not open backing file: ");
    }
  }

  /**
   * "data-file": a node reference (refused), or a node: a file (kept as its name), raw over a file
   * (the same), or any other storage node (null-co, raw with offset and size, raw over blkdebug),
   * kept as {@link #dataFileNode()}.
   */
  private static String readDataFile(BlockOptions options, BlockNode[] nodeOut) throws ImageSpecException {
    if (!options.has("data-file") && options.copy().extract("data-file").isEmpty()) {
      return null;
    }
    BlockNode node = NodeReader.child(options, "data-file", null, true, false);
    if (node instanceof BlockNode.File file && file.driver().equals("file")) {
      return file.filename();
    }
    if (node instanceof BlockNode.Format format && format.spec().format() == io.qcow4j.disk.ImageFormat.RAW
        && format.spec().node() == null && format.spec().file() instanceof BlockNode.File file
        && file.driver().equals("file")) {
      FormatOptions raw = format.spec().formatOptions(io.qcow4j.disk.ImageFormat.RAW);
      if (raw.rawOffset() == null && raw.rawSize() == null) {
        return file.filename();
      }
    }
    nodeOut[0] = node;
    return node.bottomFilename();
  }

  private static void refuseLeftover(BlockOptions options, String format) throws ImageSpecException {
    String key = options.firstKey();
    if (key != null) {
      throw new ImageSpecException("Block format '" + format + "' does not support the option '" + key + "'");
    }
  }

  /** What to open below the image. */
  public Backing backing() {
    return backing;
  }

  /** The external data file to use instead of the one the header names (as written); null: the header's. */
  public String dataFile() {
    return dataFile;
  }

  /**
   * The data file as a node other than a plain file (null-co, raw with offset and size, raw over
   * blkdebug), opened through the storage nodes; null when {@link #dataFile()} is a plain file or
   * none is named.
   */
  public BlockNode dataFileNode() {
    return dataFileNode;
  }

  /** The id of the secret that holds the encryption key (encrypt.key-secret); null when none is named. */
  public String keySecret() {
    return keySecret;
  }

  /** The lazy-refcounts runtime option (on, off), which overrides the image's compat bit; null when not given. */
  public Boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  /** The engine's metadata cache budget the spec asks for; null for the default. */
  public Long cacheBytes() {
    return cacheBytes;
  }

  /**
   * The checks QEMU makes once it has read a qcow2 header (qcow2_update_options_prepare, in its
   * order): the cache sizes as read_cache_sizes works them out for this image (an L2 cache entry
   * size that is no power of two between 512 and the cluster size; more than INT_MAX L2 cache
   * entries or refcount cache clusters, "L2 cache size too big"), lazy refcounts on a version 2
   * image, an encryption format for an image without encryption. (A data file named for an image
   * without one is refused by the opener, after it tried to open that file as QEMU does.)
   */
  public void checkQcow2(int version, int clusterSize, long virtualSize, boolean extendedL2, boolean hasDataFile,
      boolean encrypted) throws ImageSpecException {
    checkCacheSizes(clusterSize, virtualSize, extendedL2 ? 16 : 8);
    if (Boolean.TRUE.equals(lazyRefcounts) && version < 3) {
      throw new ImageSpecException("Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level");
    }
    if (encryptFormat != null && !encrypted) {
      throw new ImageSpecException("No encryption in image header, but options specified format '"
          + encryptFormat + "'");
    }
  }

  /** QEMU's read_cache_sizes and the bounds of its caches, over sizes given in bytes (2^63 or more as Long.MAX_VALUE). */
  private void checkCacheSizes(int clusterSize, long virtualSize, int l2EntryBytes) throws ImageSpecException {
    long maxL2Entries = Math.ceilDiv(virtualSize, clusterSize);
    long maxL2Cache = Math.ceilDiv(maxL2Entries * l2EntryBytes, clusterSize) * clusterSize;
    long l2Bytes = Math.min(maxL2Cache, l2CacheSize != null ? l2CacheSize : DEFAULT_L2_CACHE_MAX_BYTES);
    long refcountBytes = refcountCacheSize != null ? refcountCacheSize : 0;
    long minRefcountCache = MIN_REFCOUNT_CACHE_CLUSTERS * clusterSize;
    if (combinedCacheSize != null) {
      if (l2CacheSize != null) {
        refcountBytes = combinedCacheSize - l2Bytes;
      } else if (refcountCacheSize != null) {
        l2Bytes = combinedCacheSize - refcountBytes;
      } else if (combinedCacheSize >= maxL2Cache + minRefcountCache) {
        l2Bytes = maxL2Cache;
        refcountBytes = combinedCacheSize - l2Bytes;
      } else {
        refcountBytes = Math.min(combinedCacheSize, minRefcountCache);
        l2Bytes = combinedCacheSize - refcountBytes;
      }
    }
    long entrySize = l2CacheEntrySize != null ? l2CacheEntrySize
        : l2Bytes < maxL2Cache ? Math.min(clusterSize, 4096) : clusterSize;
    if (entrySize < 512 || entrySize > clusterSize || Long.bitCount(entrySize) != 1) {
      throw new ImageSpecException("L2 cache entry size must be a power of two between 512 and the cluster size ("
          + clusterSize + ")");
    }
    if (Math.max(l2Bytes / entrySize, MIN_L2_CACHE_ENTRIES) > Integer.MAX_VALUE) {
      throw new ImageSpecException("L2 cache size too big");
    }
    if (Math.max(refcountBytes / clusterSize, MIN_REFCOUNT_CACHE_CLUSTERS) > Integer.MAX_VALUE) {
      throw new ImageSpecException("Refcount cache size too big");
    }
  }
}
