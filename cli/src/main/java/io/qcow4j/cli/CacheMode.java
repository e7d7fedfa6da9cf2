package io.qcow4j.cli;

import java.util.Set;

/**
 * qemu-img's -t cache modes. qcow4j always goes through the page cache and makes data durable with
 * explicit barriers; every valid mode is accepted, and unsafe (cache.no-flush) skips the barriers.
 */
final class CacheMode {
  private static final Set<String> MODES = Set.of("none", "off", "writeback", "writethrough", "directsync", "unsafe");

  private CacheMode() {}

  /** Whether {@code mode} is a cache mode bdrv_parse_cache_mode accepts. */
  static boolean valid(String mode) {
    return MODES.contains(mode);
  }

  /** Whether a valid {@code mode} makes flushes reach stable storage: all but unsafe do. */
  static boolean flushes(String mode) {
    return !"unsafe".equals(mode);
  }

  /** Checks a -t value as bdrv_parse_cache_mode does; null (absent) is fine. */
  static void check(String mode) {
    if (mode != null && !MODES.contains(mode)) {
      throw new CommandFailure("Invalid cache option: " + mode, 1);
    }
  }
}
