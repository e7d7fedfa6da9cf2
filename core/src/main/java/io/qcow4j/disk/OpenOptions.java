package io.qcow4j.disk;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * How to open an image: access mode, the format (null detects it), how deep a backing chain may
 * go, what to do with a backing file, the byte budget of the metadata caches, and the image locks
 * (whether they are taken, what this user lets other users do). Immutable; each {@code with}
 * method returns a copy with one setting changed.
 */
public final class OpenOptions {
  /** How many backing files may be opened below an image by default, as in QEMU. */
  public static final int DEFAULT_MAX_CHAIN_DEPTH = 16;
  /** The default byte budget of an image's metadata caches: 32 MiB. */
  public static final long DEFAULT_CACHE_BYTES = 32L << 20;
  private static final Set<Permission> DEFAULT_SHARED =
      Set.copyOf(EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE_UNCHANGED));

  private final boolean readOnly;
  private final ImageFormat format;
  private final int maxChainDepth;
  private final BackingPolicy backingPolicy;
  private final long cacheBytes;
  private final Locking locking;
  private final boolean forceShare;
  private final Set<Permission> sharedPermissions;
  private final SnapshotSelector snapshot;
  private final boolean flushes;
  private final byte[] keySecret;
  private final boolean describeOnly;
  private final boolean directIo;

  private OpenOptions(boolean readOnly, ImageFormat format, int maxChainDepth, BackingPolicy backingPolicy,
      long cacheBytes, Locking locking, boolean forceShare, Set<Permission> sharedPermissions,
      SnapshotSelector snapshot, boolean flushes, byte[] keySecret, boolean describeOnly, boolean directIo) {
    if (maxChainDepth < 0) {
      throw new IllegalArgumentException("maxChainDepth must be >= 0: " + maxChainDepth);
    }
    if (cacheBytes < 4096) {
      throw new IllegalArgumentException("cacheBytes must be at least 4096: " + cacheBytes);
    }
    this.readOnly = readOnly;
    this.format = format;
    this.maxChainDepth = maxChainDepth;
    this.backingPolicy = Objects.requireNonNull(backingPolicy, "backingPolicy");
    this.cacheBytes = cacheBytes;
    this.locking = Objects.requireNonNull(locking, "locking");
    this.forceShare = forceShare;
    this.sharedPermissions = Set.copyOf(Objects.requireNonNull(sharedPermissions, "sharedPermissions"));
    this.snapshot = snapshot;
    this.flushes = flushes;
    this.keySecret = keySecret;
    this.describeOnly = describeOnly;
    this.directIo = directIo;
  }

  /**
   * Read-only, format detected, backing files followed, the default limits, locks taken (sharing
   * reads with others, not writes).
   */
  public static OpenOptions readOnlyDefaults() {
    return new OpenOptions(true, null, DEFAULT_MAX_CHAIN_DEPTH, BackingPolicy.FOLLOW, DEFAULT_CACHE_BYTES,
        Locking.AUTO, false, DEFAULT_SHARED, null, true, null, false, false);
  }

  /** As {@link #readOnlyDefaults()}, read-write. */
  public static OpenOptions readWriteDefaults() {
    return readOnlyDefaults().withReadOnly(false);
  }

  /** Whether the image is opened read-only. */
  public boolean readOnly() {
    return readOnly;
  }

  /** The format to open the image as; null when it is detected. */
  public ImageFormat format() {
    return format;
  }

  /** How many backing files may be opened below the image. */
  public int maxChainDepth() {
    return maxChainDepth;
  }

  /** What to do with a backing file the image names. */
  public BackingPolicy backingPolicy() {
    return backingPolicy;
  }

  /** The byte budget of each image's metadata caches. */
  public long cacheBytes() {
    return cacheBytes;
  }

  /** Whether QEMU's image locks are taken (default {@link Locking#AUTO}). */
  public Locking locking() {
    return locking;
  }

  /**
   * Whether a read-only open lets others do anything, writes included (qemu-img's {@code -U}); a
   * read-write open refuses it.
   */
  public boolean forceShare() {
    return forceShare;
  }

  /**
   * What this user lets others do to the image (default: read it, and write without changing
   * data). A qcow2 image file is never shared for writing or resizing while it is open, except
   * with {@link #forceShare()}: its metadata would change under us.
   */
  public Set<Permission> sharedPermissions() {
    return sharedPermissions;
  }

  /**
   * The internal snapshot to read the image as (read-only opens of qcow2 images only), or null for
   * its current state; backing files are always read as they are.
   */
  public SnapshotSelector snapshot() {
    return snapshot;
  }

  /**
   * Whether flushes reach stable storage (default); false is QEMU's {@code cache.no-flush} and
   * cache mode {@code unsafe}, what qemu-img convert writes its target with: every barrier of the
   * image files is skipped, so a crash can lose or corrupt what was written, closing included.
   */
  public boolean flushes() {
    return flushes;
  }

  /** These options with flushes made (true) or skipped (false, cache mode unsafe). */
  public OpenOptions withFlushes(boolean value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, value, keySecret, describeOnly, directIo);
  }

  /** These options reading the internal snapshot {@code value} (null: the current state). */
  public OpenOptions withSnapshot(SnapshotSelector value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, value, flushes, keySecret, describeOnly, directIo);
  }

  /** These options opening read-only or read-write. */
  public OpenOptions withReadOnly(boolean value) {
    return new OpenOptions(value, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options opening as {@code value} (null: the format is probed). */
  public OpenOptions withFormat(ImageFormat value) {
    return new OpenOptions(readOnly, value, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options opening at most {@code value} backing files below the image. */
  public OpenOptions withMaxChainDepth(int value) {
    return new OpenOptions(readOnly, format, value, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options treating a backing file as {@code value} says. */
  public OpenOptions withBackingPolicy(BackingPolicy value) {
    return new OpenOptions(readOnly, format, maxChainDepth, value, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options with a metadata cache budget of {@code value} bytes per image. */
  public OpenOptions withCacheBytes(long value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, value, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options taking QEMU's image locks as {@code value} says. */
  public OpenOptions withLocking(Locking value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, value, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options letting others do anything to a read-only image, or not (qemu-img's -U). */
  public OpenOptions withForceShare(boolean value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, value,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /** These options letting others do {@code value} to the image. */
  public OpenOptions withSharedPermissions(Set<Permission> value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        value, snapshot, flushes, keySecret, describeOnly, directIo);
  }

  /**
   * A copy of the secret (a LUKS passphrase) that unlocks an encrypted image, or null; an image
   * spec's key-secret, when it names one, takes its place.
   */
  public byte[] keySecret() {
    return keySecret == null ? null : keySecret.clone();
  }

  /**
   * These options with the secret that unlocks an encrypted image (a copy is kept; the caller may
   * clear its array), or none when null.
   */
  public OpenOptions withKeySecret(byte[] value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, value == null ? null : value.clone(), describeOnly, directIo);
  }

  /**
   * Whether the image is opened only to be described (QEMU's BDRV_O_NO_IO, as qemu-img info opens):
   * an encrypted image needs no secret then, and its data cannot be read.
   */
  public boolean describeOnly() {
    return describeOnly;
  }

  /** These options opening the image only to describe it, or not. */
  public OpenOptions withDescribeOnly(boolean value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, value, directIo);
  }

  /**
   * Whether the image file is read as opened with O_DIRECT (QEMU's cache.direct=on): block status
   * of a raw file then covers whole sectors, its last partial sector reported with the data before
   * it, as QEMU's file driver rounds to its request alignment.
   */
  public boolean directIo() {
    return directIo;
  }

  /** These options with cache.direct on or off. */
  public OpenOptions withDirectIo(boolean value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, keySecret, describeOnly, value);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof OpenOptions that
        && readOnly == that.readOnly && format == that.format && maxChainDepth == that.maxChainDepth
        && backingPolicy == that.backingPolicy && cacheBytes == that.cacheBytes && locking == that.locking
        && forceShare == that.forceShare && sharedPermissions.equals(that.sharedPermissions)
        && Objects.equals(snapshot, that.snapshot) && java.util.Arrays.equals(keySecret, that.keySecret)
        && describeOnly == that.describeOnly && flushes == that.flushes && directIo == that.directIo;
  }

  @Override
  public int hashCode() {
    return Objects.hash(readOnly, format, maxChainDepth, backingPolicy, cacheBytes, locking, forceShare,
        sharedPermissions, snapshot, flushes, java.util.Arrays.hashCode(keySecret), describeOnly, directIo);
  }

  @Override
  public String toString() {
    return "OpenOptions[readOnly=" + readOnly + ", format=" + format + ", maxChainDepth=" + maxChainDepth
        + ", backingPolicy=" + backingPolicy + ", cacheBytes=" + cacheBytes + ", locking=" + locking
        + ", forceShare=" + forceShare + ", sharedPermissions=" + sharedPermissions + ", snapshot=" + snapshot
        + ", flushes=" + flushes + (keySecret != null ? ", keySecret=<hidden>" : "")
        + (describeOnly ? ", describeOnly" : "") + "]";
  }
}
