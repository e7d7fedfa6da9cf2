package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.ops.CopyOnRead;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotLoadException;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The image qemu-io has open, if any: opened by the command line or "open", ended by "close",
 * reopened by "reopen", with qemu-io's messages ("can't open device NAME: reason"). Holds what the
 * cache mode asks of writes (a flush after each in writethrough mode, none at all in unsafe mode)
 * and, in snapshot mode (-s), the temporary overlay that takes the writes and is deleted at close.
 */
final class QemuIoSession implements AutoCloseable {
  /**
   * How an image is opened: qemu-io's flags that qcow4j honours; {@code unmap} false (-d ignore or
   * off) makes discards succeed without doing anything and write -z -u not unmap, as QEMU does
   * without BDRV_O_UNMAP; {@code copyOnRead} (-C) copies what reads find outside the image into it.
   */
  record Flags(boolean readOnly, boolean snapshot, boolean forceShare, CacheMode.Setting cache, boolean unmap,
      boolean copyOnRead) {
    Flags withReadOnly(boolean value) {
      return new Flags(value, snapshot, forceShare, cache, unmap, copyOnRead);
    }

    Flags withCache(CacheMode.Setting value) {
      return new Flags(readOnly, snapshot, forceShare, value, unmap, copyOnRead);
    }
  }

  private final PrintWriter out;
  private final PrintWriter err;
  private final Secrets secrets;
  private final boolean imageOpts;
  private DiskFile disk;
  private final QemuIoRequests requests;
  private ImageSpec spec;
  private Flags flags;
  /** What the image was opened from, for reopen: the name and the option string (each may be null). */
  private String openName;
  private String openOptions;
  private Path snapshotOverlay;
  private boolean quit;

  QemuIoSession(PrintWriter out, PrintWriter err, Secrets secrets, boolean imageOpts) {
    this.out = out;
    this.err = err;
    this.requests = new QemuIoRequests(out);
    this.secrets = secrets;
    this.imageOpts = imageOpts;
  }

  /** The open image, or null. */
  DiskFile disk() {
    return disk;
  }

  /** Whether --image-opts was given (then "open -o" is refused and a path is an option string). */
  boolean imageOpts() {
    return imageOpts;
  }

  /** The flags the image was opened with. */
  Flags flags() {
    return flags;
  }

  /** Whether "quit" ran. */
  boolean quitting() {
    return quit;
  }

  void quit() {
    quit = true;
  }

  /** The aio requests running on threads of their own (once a breakpoint is set). */
  QemuIoRequests requests() {
    return requests;
  }

  /**
   * qemu-io's openfile: opens {@code name} (null: only the options name the image) with the
   * options string {@code options} (--image-opts or "open -o"; null for none) and the format
   * {@code format} (-f; null: probed); 0, or 1 after the error line.
   */
  int open(String name, String options, String format, Flags openFlags) {
    if (disk != null) {
      error("file open already, try 'help close'");
      return 1;
    }
    ImageSpec image;
    try {
      if (options == null) {
        image = ImageSpec.parseWithDriver(name, Images.driver(format));
      } else {
        image = name == null ? ImageSpec.parseOptions(options, false) : ImageSpec.parseMerged(name, options);
      }
    } catch (ImageSpecException e) {
      warn(e.warnings());
      cantOpen(name, e);
      return 1;
    } catch (CommandFailure e) {
      error(e.getMessage());
      return 1;
    }
    warn(image.warnings());
    if (openFlags.forceShare()) {
      if (image.forceShareText() != null && !image.forceShareText().equals("on")) {
        error("-U conflicts with image options");
        return 1;
      }
      image = image.withForceShare();
    }
    if (openFlags.copyOnRead() && openFlags.readOnly()) {
      cantOpen(name, new IOException("Can't use copy-on-read on read-only device"));
      return 1;
    }
    try {
      disk = openFlags.snapshot() ? openSnapshot(image, openFlags.readOnly()) : openImage(image, openFlags.readOnly());
    } catch (IOException | RuntimeException e) {
      cantOpen(name, e, image.filename());
      return 1;
    }
    Images.warnIfBitmapsInvalidated(disk, err);
    if (!openFlags.snapshot() && !disk.isReadOnly()) {
      Images.warnIfProbedRaw(disk.nodeFilename() != null ? disk.nodeFilename() : image.filename(), disk, err);
    }
    spec = image;
    flags = openFlags;
    openName = name;
    openOptions = options;
    return 0;
  }

  private DiskFile openImage(ImageSpec image, boolean readOnly) throws IOException {
    // qemu-io lets others do anything with the image meanwhile
    OpenOptions defaults = OpenOptions.readWriteDefaults().withReadOnly(readOnly)
        .withSharedPermissions(ImageArguments.SHARE_ALL);
    DiskFile disk = DiskImages.open(image, defaults, secrets);
    Images.printRepairedAtOpen(disk, err);
    return disk;
  }

  /**
   * Snapshot mode (BDRV_O_SNAPSHOT): the image read-only under a temporary qcow2 overlay in
   * $TMPDIR (else /var/tmp), as QEMU's bdrv_append_temp_snapshot makes it; the overlay is deleted
   * when the image is closed.
   */
  private DiskFile openSnapshot(ImageSpec image, boolean readOnly) throws IOException {
    String backingName;
    ImageFormat backingFormat;
    long size;
    try (DiskFile base = openImage(image, true)) {
      backingFormat = base.format();
      size = base.size();
      backingName = base.files().getFirst().toAbsolutePath().toString();
    }
    String tmp = System.getenv("TMPDIR");
    Path overlay = Files.createTempFile(Path.of(tmp != null && !tmp.isEmpty() ? tmp : "/var/tmp"), "vl.", "");
    try {
      DiskImages.create(overlay, ImageFormat.QCOW2, CreateOptions.of(size).withBacking(backingName, backingFormat))
          .close();
      DiskFile top = DiskImages.open(ImageSpec.ofFilename(overlay.toString(), ImageFormat.QCOW2),
          OpenOptions.readWriteDefaults().withReadOnly(readOnly).withSharedPermissions(ImageArguments.SHARE_ALL),
          secrets);
      snapshotOverlay = overlay;
      return top;
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(overlay);
      throw e;
    }
  }

  /** close: the image is closed (a failure to write its metadata printed); nothing is open after it. */
  void closeImage() {
    if (disk == null) {
      return;
    }
    // requests held at breakpoints go on, so that the image closes after them
    io.qcow4j.storage.DebugBreakpoints breakpoints = disk.debugBreakpoints();
    if (breakpoints != null) {
      breakpoints.releaseAll();
    }
    requests.drain();
    try {
      disk.close();
    } catch (IOException e) {
      error(Failures.reason(e, null));
      // a close reports each failed cache flush on a line of its own, as QEMU's qcow2_inactivate
      for (Throwable more : e.getSuppressed()) {
        error(Failures.reason(more, null));
      }
    } finally {
      disk = null;
      spec = null;
      if (snapshotOverlay != null) {
        try {
          Files.deleteIfExists(snapshotOverlay);
        } catch (IOException e) {
          // a temporary file left behind in the temporary directory harms nothing
        }
        snapshotOverlay = null;
      }
    }
  }

  /**
   * reopen: the image closed and opened again with {@code newFlags} (read-only or read-write, the
   * cache mode) and the driver options {@code options} (null: none) over those it was opened
   * with; 0, or a negative errno after the error line, the image then open as before.
   */
  int reopen(Flags newFlags, String options) {
    if (snapshotOverlay != null) {
      if (newFlags.readOnly() != flags.readOnly() || options != null) {
        error("reopen of a snapshot-mode (-s) image is not supported by qcow4j");
        return -95;
      }
      flags = newFlags;
      return 0;
    }
    ImageSpec image = spec;
    if (options != null) {
      String unchangeable = unchangeableOption(options);
      if (unchangeable != null) {
        error("Cannot change the option '" + unchangeable + "'");
        return -22;
      }
      try {
        // the options the image was opened with, the file and the format it was opened as, then the new ones
        String base = openOptions != null ? openOptions : "driver=" + disk.format().id();
        // read-only is the flags' (reopen has read the option into them)
        String merged = base + "," + options + ",read-only=" + (newFlags.readOnly() ? "on" : "off");
        image = openName == null ? ImageSpec.parseOptions(merged, false) : ImageSpec.parseMerged(openName, merged);
      } catch (ImageSpecException e) {
        error(Failures.reason(e, null));
        return -22;
      }
    } else if (newFlags.readOnly() == disk.isReadOnly()) {
      flags = newFlags;
      return 0;
    }
    try {
      disk.close();
    } catch (IOException e) {
      error(Failures.reason(e, null));
    }
    // the closed image's tables (an L1 table may take 32 MiB) must not stay reachable while the next one opens
    disk = null;
    try {
      disk = openImage(image, newFlags.readOnly());
      spec = image;
      flags = newFlags;
      return 0;
    } catch (IOException | RuntimeException e) {
      error(Failures.reason(e, image.filename()));
      try {
        disk = openImage(spec, flags.readOnly());
      } catch (IOException | RuntimeException again) {
        disk = null;
        spec = null;
      }
      return -22;
    }
  }

  /**
   * The first option of a reopen that QEMU's bdrv_reopen_prepare refuses to change ("node-name",
   * "driver"), at the image, its file or its backing file: a node name other than the one it was
   * opened with (none names an automatic one), a driver other than the node's; null when none.
   */
  private String unchangeableOption(String options) {
    java.util.Map<String, String> opened = new java.util.HashMap<>();
    if (openOptions != null) {
      for (var element : io.qcow4j.options.OptionSyntax.elements(openOptions)) {
        opened.put(element.name(), element.value());
      }
    }
    for (var element : io.qcow4j.options.OptionSyntax.elements(options)) {
      String key = element.name();
      String node = key.contains(".") ? key.substring(0, key.lastIndexOf('.') + 1) : "";
      String leaf = key.substring(node.length());
      if (leaf.equals("node-name") && !element.value().equals(opened.get(key))) {
        return "node-name";
      }
      if (leaf.equals("driver") && !element.value().equals(driverOf(node))) {
        return "driver";
      }
    }
    return null;
  }

  /** The driver of the node at {@code prefix} ("", "file.", "backing."); null when qcow4j cannot tell. */
  private String driverOf(String prefix) {
    return switch (prefix) {
      case "" -> disk.format().id();
      case "file." -> "file";
      case "backing." -> disk.backing().map(backing -> backing.format().id()).orElse(null);
      default -> null;
    };
  }

  /** After a read of {@code [offset, offset + count)}: copy-on-read copies what it found outside the image. */
  void afterRead(long offset, long count) throws IOException {
    if (flags.copyOnRead()) {
      CopyOnRead.copy(disk, offset, count);
    }
  }

  /** After a write command: writethrough mode makes what it wrote durable, as QEMU flushes then. */
  void afterWrite() throws IOException {
    if (disk != null && flags.cache().writethrough()) {
      flushImage();
    }
  }

  /** flush: the image's metadata written and, unless the cache mode is unsafe, synced to the disk. */
  void flushImage() throws IOException {
    if (flags.cache().noFlush()) {
      disk.flush();
    } else {
      disk.force(false);
    }
  }

  @Override
  public void close() {
    closeImage();
  }

  /** "can't open device NAME: reason", or "can't open: reason" when only options name the image. */
  private void cantOpen(String name, Exception failure) {
    cantOpen(name, failure, null);
  }

  /**
   * As {@link #cantOpen(String, Exception)}, the engine's name of the image file {@code file} (when
   * known) taken off the front of the reason as well: QEMU's drivers do not name it.
   */
  private void cantOpen(String name, Exception failure, String file) {
    String head = name != null ? "can't open device " + name + ": " : "can't open: ";
    String reason;
    if (failure instanceof SnapshotLoadException snapshot) {
      reason = "Failed to load snapshot: " + snapshot.reason();
    } else if (failure instanceof NoSuchFileException missing && missing.getReason() != null
        && missing.getReason().startsWith("backing file of ")) {
      reason = "Could not open backing file: Could not open '" + missing.getFile() + "': No such file or directory";
    } else if (failure instanceof FileSystemException missing && missing.getReason() != null
        && missing.getReason().startsWith("Could not open ")) {
      // the engine's reason is already in QEMU's words (a missing backing file)
      reason = missing.getReason();
    } else if (failure instanceof FileSystemException missing && missing.getFile() != null) {
      // QEMU's file driver names the file it could not open
      reason = "Could not open '" + missing.getFile() + "': " + Failures.reason(failure, missing.getFile());
    } else {
      reason = Failures.reason(failure, name);
      if (file != null && reason.startsWith(file + ": ")) {
        reason = reason.substring(file.length() + 2);
      }
    }
    out.flush();
    err.println(QemuErrors.PREFIX + head + reason);
    Failures.hint(failure).ifPresent(err::println);
    err.flush();
  }

  private void warn(List<String> warnings) {
    for (String warning : warnings) {
      err.println(QemuErrors.PREFIX + "warning: " + warning);
    }
    err.flush();
  }

  private void error(String message) {
    out.flush();
    err.println(QemuErrors.PREFIX + message);
    err.flush();
  }
}
