package io.qcow4j.cli;

import java.util.Set;

/**
 * The cache modes of qemu-img's -t and qemu-io's -t/--cache, as QEMU's bdrv_parse_cache_mode reads
 * them. qcow4j always goes through the page cache; of a mode it honours the write cache
 * (writethrough: each write made durable before it completes) and no-flush (unsafe: a flush
 * writes the metadata but never syncs).
 */
final class CacheMode {
  private static final Set<String> MODES = Set.of("none", "off", "writeback", "writethrough", "directsync", "unsafe");

  /** What a mode sets: cache.direct (O_DIRECT), cache.no-flush, and whether the write cache is off. */
  record Setting(boolean direct, boolean noFlush, boolean writethrough) {
    /** qemu-io's default without -t: writethrough. */
    static final Setting WRITETHROUGH = new Setting(false, false, true);
  }

  private CacheMode() {}

  /** Whether {@code mode} is a cache mode bdrv_parse_cache_mode accepts. */
  static boolean valid(String mode) {
    return MODES.contains(mode);
  }

  /** Whether a valid {@code mode} makes flushes reach stable storage: all but unsafe do. */
  static boolean flushes(String mode) {
    return !setting(mode).noFlush();
  }

  /** The setting of {@code mode}; null when bdrv_parse_cache_mode refuses it. */
  static Setting setting(String mode) {
    return switch (mode) {
      case "off", "none" -> new Setting(true, false, false);
      case "directsync" -> new Setting(true, false, true);
      case "writeback" -> new Setting(false, false, false);
      case "unsafe" -> new Setting(false, true, false);
      case "writethrough" -> new Setting(false, false, true);
      default -> null;
    };
  }

  /** Checks a -t value as bdrv_parse_cache_mode does; null (absent) is fine. */
  static void check(String mode) {
    if (mode != null && !MODES.contains(mode)) {
      throw new CommandFailure("Invalid cache option: " + mode, 1);
    }
  }
}
