package io.qcow4j.storage;

import io.qcow4j.disk.ImageLockedException;
import io.qcow4j.disk.Locking;
import io.qcow4j.disk.Permission;
import java.io.IOException;
import java.nio.file.Path;

/**
 * QEMU's image-locking protocol (block/file-posix.c): one byte per permission, read-locked with an
 * open file description lock. Byte 100 + i is held while this user holds permission i; byte
 * 200 + i while it does not let others take it. An open locks its bytes first and then tests the
 * others' (a permission it takes against their byte 200 + i, a permission it does not share
 * against their byte 100 + i), so of two opens racing for conflicting permissions at least one
 * sees the other. The locks last as long as the descriptor: closing it drops them.
 */
final class ImageLocks {
  private static final int PERMISSION_BASE = 100;
  private static final int SHARED_BASE = 200;

  private ImageLocks() {}

  /**
   * Takes the locks {@code request} asks for on {@code file}; an {@link ImageLockedException}
   * names the first conflict in QEMU's order, IOException the host's refusal.
   */
  static void acquire(NativeFile file, Path path, LockRequest request) throws IOException {
    if (request.locking() == Locking.OFF) {
      return;
    }
    if (file == null || !file.hasLocks()) {
      if (request.locking() == Locking.ON) {
        throw new IOException(path + ": image locking was asked for (locking=on) but this host has no "
            + "open file description locks");
      }
      return;
    }
    for (Permission permission : Permission.values()) {
      if (request.taken().contains(permission)) {
        lock(file, PERMISSION_BASE + permission.ordinal());
      }
    }
    for (Permission permission : Permission.values()) {
      if (!request.shared().contains(permission)) {
        lock(file, SHARED_BASE + permission.ordinal());
      }
    }
    for (Permission permission : Permission.values()) {
      if (request.taken().contains(permission) && file.lockedByOthers(SHARED_BASE + permission.ordinal())) {
        throw new ImageLockedException(path, permission, false);
      }
    }
    for (Permission permission : Permission.values()) {
      if (!request.shared().contains(permission) && file.lockedByOthers(PERMISSION_BASE + permission.ordinal())) {
        throw new ImageLockedException(path, permission, true);
      }
    }
  }

  /**
   * Widens the locks from {@code held} to {@code wider}; on a conflict the bytes locked for it are
   * released again and {@code held} stays as it was.
   */
  static void widen(NativeFile file, Path path, LockRequest held, LockRequest wider) throws IOException {
    try {
      acquire(file, path, wider);
    } catch (ImageLockedException e) {
      for (Permission permission : Permission.values()) {
        if (wider.taken().contains(permission) && !held.taken().contains(permission)) {
          file.unlock(PERMISSION_BASE + permission.ordinal());
        }
        if (!wider.shared().contains(permission) && held.shared().contains(permission)) {
          file.unlock(SHARED_BASE + permission.ordinal());
        }
      }
      throw e;
    }
  }

  private static void lock(NativeFile file, int offset) throws IOException {
    if (!file.lockShared(offset)) {
      throw new IOException(file.name() + ": Failed to lock byte " + offset);
    }
  }
}
