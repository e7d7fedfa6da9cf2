package io.qcow4j.disk;

/**
 * How to open an image: access mode, the format (null detects it), how deep a backing chain may
 * go, what to do with a backing file, and the byte budget of the metadata caches.
 */
public record OpenOptions(
    boolean readOnly, ImageFormat format, int maxChainDepth, BackingPolicy backingPolicy, long cacheBytes) {

  public static final int DEFAULT_MAX_CHAIN_DEPTH = 16;
  public static final long DEFAULT_CACHE_BYTES = 32L << 20;

  public OpenOptions {
    if (maxChainDepth < 0) {
      throw new IllegalArgumentException("maxChainDepth must be >= 0: " + maxChainDepth);
    }
    if (cacheBytes < 4096) {
      throw new IllegalArgumentException("cacheBytes must be at least 4096: " + cacheBytes);
    }
    if (backingPolicy == null) {
      throw new IllegalArgumentException("backingPolicy is required");
    }
  }

  /** Read-only, format detected, backing files followed, the default limits. */
  public static OpenOptions readOnlyDefaults() {
    return new OpenOptions(true, null, DEFAULT_MAX_CHAIN_DEPTH, BackingPolicy.FOLLOW, DEFAULT_CACHE_BYTES);
  }

  /** Read-write, format detected, backing files followed, the default limits. */
  public static OpenOptions readWriteDefaults() {
    return new OpenOptions(false, null, DEFAULT_MAX_CHAIN_DEPTH, BackingPolicy.FOLLOW, DEFAULT_CACHE_BYTES);
  }

  public OpenOptions withReadOnly(boolean value) {
    return new OpenOptions(value, format, maxChainDepth, backingPolicy, cacheBytes);
  }

  public OpenOptions withFormat(ImageFormat value) {
    return new OpenOptions(readOnly, value, maxChainDepth, backingPolicy, cacheBytes);
  }

  public OpenOptions withMaxChainDepth(int value) {
    return new OpenOptions(readOnly, format, value, backingPolicy, cacheBytes);
  }

  public OpenOptions withBackingPolicy(BackingPolicy value) {
    return new OpenOptions(readOnly, format, maxChainDepth, value, cacheBytes);
  }

  public OpenOptions withCacheBytes(long value) {
    return new OpenOptions(readOnly, format, maxChainDepth, backingPolicy, value);
  }
}
