package io.qcow4j.disk;

/**
 * A persistent dirty bitmap of an image: its name, granularity in bytes, whether it records writes
 * (QEMU's "auto" flag), and whether its bits can be trusted (false for a bitmap found in use, that
 * is, not saved after its last change: it can only be removed).
 */
public record DirtyBitmap(String name, long granularity, boolean enabled, boolean consistent) {}
