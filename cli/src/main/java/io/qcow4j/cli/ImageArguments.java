package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.SnapshotLoadException;
import io.qcow4j.disk.SnapshotSelector;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Permission;
import io.qcow4j.options.OptionSyntax;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.ObjectDefinitionException;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileSystemException;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * What a command line says about opening its images (the name or, with --image-opts, an option
 * string; -f; -U; the --object secrets) turned into an {@link ImageSpec} and opened, with the
 * messages of the QEMU tool the command mirrors.
 */
final class ImageArguments {
  /** The QEMU tool whose wording a command keeps. */
  enum Tool {
    QEMU_IMG, QEMU_IO, QEMU_NBD
  }

  /** What qemu-io, and qemu-img's info, map, check and snapshot -l let others do: anything. */
  static final Set<Permission> SHARE_ALL = Set.copyOf(EnumSet.allOf(Permission.class));
  /** What qemu-nbd lets others do: anything but resizing the image under its clients. */
  static final Set<Permission> SHARE_ALL_BUT_RESIZE =
      Set.copyOf(EnumSet.complementOf(EnumSet.of(Permission.RESIZE)));

  private ImageArguments() {}

  /**
   * The secrets the --object arguments define, in order, as QEMU defines them while it reads its
   * options; null when one asked for help, which is printed to {@code out} (the command then
   * ends with status 0).
   */
  static Secrets secrets(List<String> objects, PrintWriter out) {
    Secrets secrets = Secrets.none();
    if (objects == null) {
      return secrets;
    }
    for (String definition : objects) {
      try {
        String help = Secrets.help(definition);
        if (help != null) {
          out.print(help);
          out.flush();
          return null;
        }
        secrets = secrets.define(definition);
      } catch (ObjectDefinitionException e) {
        throw new CommandFailure(e.getMessage(), 1, e);
      }
    }
    return secrets;
  }

  /**
   * The spec of an image argument: an option string with --image-opts (-f then refused), else a
   * file name or "json:{...}" read as {@code format}; {@code forceShare} (-U) added, refused
   * when the option string sets force-share to anything but "on". QEMU's warnings about the
   * spec go to {@code err}.
   */
  static ImageSpec spec(String argument, boolean imageOpts, String format, boolean forceShare, Tool tool,
      PrintWriter err) {
    if (imageOpts && format != null) {
      throw new CommandFailure(tool == Tool.QEMU_IMG ? "--image-opts and --format are mutually exclusive"
          : "--image-opts and -f are mutually exclusive", 1);
    }
    ImageSpec spec;
    try {
      spec = imageOpts ? ImageSpec.parseOptions(argument, tool != Tool.QEMU_IO)
          : ImageSpec.parseWithDriver(argument, Images.driver(format));
    } catch (ImageSpecException e) {
      warn(e.warnings(), err);
      throw couldNotOpen(argument, null, e);
    }
    warn(spec.warnings(), err);
    if (forceShare) {
      if (imageOpts && spec.forceShareText() != null && !spec.forceShareText().equals("on")) {
        throw new CommandFailure(tool == Tool.QEMU_IMG ? "--force-share/-U conflicts with image options"
            : "-U conflicts with image options", 1);
      }
      spec = spec.withForceShare();
    }
    return spec;
  }

  /** Prints QEMU's warnings about deprecated forms in a spec ("warning: short-form boolean option..."). */
  private static void warn(List<String> warnings, PrintWriter err) {
    for (String warning : warnings) {
      err.println(QemuErrors.PREFIX + "warning: " + warning);
    }
    err.flush();
  }

  /**
   * Opens {@code spec} with the command's {@code defaults} (the spec's own settings win), or
   * fails with "Could not open 'NAME': reason"; a raw image opened read-write by probing gets
   * QEMU's warning on {@code err}.
   */
  static DiskFile open(ImageSpec spec, OpenOptions defaults, Secrets secrets, PrintWriter err) {
    DiskFile disk;
    try {
      disk = DiskImages.open(spec, defaults, secrets);
    } catch (IOException | RuntimeException e) {
      throw couldNotOpen(spec, e);
    }
    Images.printRepairedAtOpen(disk, err);
    Images.warnIfBitmapsInvalidated(disk, err);
    // QEMU names the node as it refreshed its name (an NBD export's URI)
    Images.warnIfProbedRaw(disk.nodeFilename() != null ? disk.nodeFilename() : spec.filename(), disk, err);
    return disk;
  }

  /** "Could not open 'NAME': reason" for a failure to open {@code spec}; a standalone message as it is. */
  static CommandFailure couldNotOpen(ImageSpec spec, Throwable failure) {
    return couldNotOpen(spec.name(), spec.isPlainFilename() ? null : spec.filename(), failure);
  }

  /**
   * "Could not open 'NAME': reason"; when {@code file}, the image file's name, differs from NAME
   * (an option string, JSON), a file that cannot be opened is named again before the reason, as
   * QEMU's file driver names it.
   */
  static CommandFailure couldNotOpen(String name, String file, Throwable failure) {
    if (failure instanceof SnapshotLoadException snapshot) {
      return new CommandFailure("Failed to load snapshot: " + snapshot.reason(), 1, failure);
    }
    if (failure instanceof ImageSpecException spec && spec.standalone()) {
      return new CommandFailure(spec.getMessage(), 1, failure);
    }
    if (file == null && failure instanceof IOException plain) {
      return Failures.couldNotOpen(name, plain);
    }
    String reason = Failures.reason(failure, file != null ? file : name);
    if (file != null && failure instanceof FileSystemException missing && !reason.startsWith("Could not open")) {
      // the file QEMU's file driver could not open: the image's, or its data file's
      String which = missing.getFile() != null ? missing.getFile() : file;
      reason = "Could not open '" + which + "': " + Failures.reason(failure, which);
    }
    return new CommandFailure("Could not open '" + name + "': " + reason, 1, failure);
  }

  /**
   * Checks a -l SNAPSHOT_PARAM (qemu-img convert and measure, qemu-nbd) as QEMU parses it while
   * it reads its options: "snapshot.id=ID,snapshot.name=NAME", or an id or name.
   */
  static void checkSnapshotParameter(String parameter) {
    if (parameter == null || !parameter.startsWith("snapshot.")) {
      return;
    }
    for (OptionSyntax.Element each : OptionSyntax.elements(parameter)) {
      if (!each.name().equals("snapshot.id") && !each.name().equals("snapshot.name")) {
        throw new CommandFailure("Invalid parameter '" + each.name() + "'\n" + QemuErrors.PREFIX
            + "Failed in parsing snapshot param '" + parameter + "'", 1);
      }
    }
  }

  /**
   * The snapshot a -l SNAPSHOT_PARAM selects (null when none is given): "snapshot.id=ID" and/or
   * "snapshot.name=NAME", or a word tried as an id and then as a name.
   */
  static SnapshotSelector snapshotSelector(String parameter) {
    if (parameter == null) {
      return null;
    }
    if (!parameter.startsWith("snapshot.")) {
      return SnapshotSelector.idOrName(parameter);
    }
    String id = null;
    String name = null;
    for (OptionSyntax.Element each : OptionSyntax.elements(parameter)) {
      if (each.name().equals("snapshot.id")) {
        id = each.value();
      } else {
        name = each.value();
      }
    }
    // neither given: QEMU searches for a snapshot matching nothing, and finds none
    return id == null && name == null ? SnapshotSelector.of("", null) : SnapshotSelector.of(id, name);
  }
}
