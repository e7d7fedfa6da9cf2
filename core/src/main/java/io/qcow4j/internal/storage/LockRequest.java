package io.qcow4j.internal.storage;

import io.qcow4j.disk.Locking;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Permission;
import java.util.EnumSet;
import java.util.Set;

/**
 * The image locks a {@link FileStorage} takes on open: whether to lock at all, the permissions
 * this user takes and those it lets others take.
 */
public record LockRequest(Locking locking, Set<Permission> taken, Set<Permission> shared) {
  /** No locks taken or tested. */
  public static final LockRequest NONE = new LockRequest(Locking.OFF, Set.of(), EnumSet.allOf(Permission.class));

  public LockRequest {
    taken = Set.copyOf(taken);
    shared = Set.copyOf(shared);
  }

  /** This request with {@code permission} taken too. */
  public LockRequest taking(Permission permission) {
    EnumSet<Permission> wider = EnumSet.of(permission);
    wider.addAll(taken);
    return new LockRequest(locking, wider, shared);
  }

  /**
   * What QEMU takes while it creates an image over the file: writing and resizing it, letting
   * others do anything but resize (the file has the size asked for when the creation ends).
   */
  public static LockRequest creating(Locking locking) {
    return new LockRequest(locking, EnumSet.of(Permission.WRITE, Permission.RESIZE),
        EnumSet.complementOf(EnumSet.of(Permission.RESIZE)));
  }

  /**
   * The locks on a qcow2 image file, as QEMU's qcow2 driver asks for them: its metadata is never
   * shared for writing or resizing (unless forced), and a writer may also resize it.
   */
  public static LockRequest forImageFile(OpenOptions options) {
    return new LockRequest(options.locking(), taken(options, true),
        shared(options, EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE_UNCHANGED)));
  }

  /** The locks on a qcow2 image's external data file: others may write it, not resize it. */
  public static LockRequest forDataFile(OpenOptions options) {
    return new LockRequest(options.locking(), taken(options, true),
        shared(options, EnumSet.complementOf(EnumSet.of(Permission.RESIZE))));
  }

  /** The locks on a raw image: what the user takes and shares, no more. */
  public static LockRequest forRawImage(OpenOptions options) {
    return new LockRequest(options.locking(), taken(options, false), shared(options, EnumSet.allOf(Permission.class)));
  }

  /**
   * The options a backing file is opened with below an image opened with {@code options}: read
   * only; others may read it and, if the user lets others write, write and resize it too.
   */
  public static OpenOptions forBacking(OpenOptions options) {
    EnumSet<Permission> shared = EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE_UNCHANGED);
    if (options.sharedPermissions().contains(Permission.WRITE)) {
      shared.add(Permission.WRITE);
      shared.add(Permission.RESIZE);
    }
    return options.withReadOnly(true).withFormat(null).withSharedPermissions(shared).withSnapshot(null);
  }

  private static Set<Permission> taken(OpenOptions options, boolean resizes) {
    if (options.forceShare() && !options.readOnly()) {
      throw new IllegalArgumentException("force-share=on can only be used with read-only images");
    }
    EnumSet<Permission> taken = EnumSet.of(Permission.CONSISTENT_READ);
    if (!options.readOnly()) {
      taken.add(Permission.WRITE);
      if (resizes) {
        taken.add(Permission.RESIZE);
      }
    }
    return taken;
  }

  /** What the user shares, within {@code most} unless forced. */
  private static Set<Permission> shared(OpenOptions options, Set<Permission> most) {
    if (options.forceShare()) {
      return EnumSet.allOf(Permission.class);
    }
    EnumSet<Permission> shared = EnumSet.noneOf(Permission.class);
    shared.addAll(options.sharedPermissions());
    shared.retainAll(most);
    return shared;
  }
}
