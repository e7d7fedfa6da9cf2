package io.qcow4j.disk;

/** What opening an image does with the backing file its header names. */
public enum BackingPolicy {
  /** Open the backing chain and read through it. */
  FOLLOW,
  /** Refuse to open an image that has a backing file. */
  REFUSE,
  /** Open the image alone; unallocated ranges read as zeros (like qemu's "-U" inspection of a broken chain). */
  IGNORE
}
