package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageInfo.SnapshotInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-img snapshot: list, create, apply or delete internal snapshots. As in qemu-img, -a finds
 * the snapshot by id first and then by name, -d by name only, and names need not be unique; a raw
 * image lists nothing and refuses the rest with qemu-img's messages.
 */
@Command(
    name = "snapshot",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "List (-l), create (-c), apply (-a) or delete (-d) internal snapshots, like qemu-img snapshot.")
final class SnapshotCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-l", description = "List the snapshots.")
  boolean[] list = new boolean[0];

  @Option(names = "-c", paramLabel = "NAME", description = "Create a snapshot of the current state.")
  List<String> create = new ArrayList<>();

  @Option(names = "-a", paramLabel = "NAME", description = "Revert the disk to the snapshot (id or name).")
  List<String> apply = new ArrayList<>();

  @Option(names = "-d", paramLabel = "NAME", description = "Delete the snapshot (by name).")
  List<String> delete = new ArrayList<>();

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share (listing only).")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE", arity = "0..*", description = "The image.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::run);
  }

  private int run() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    int actions = list.length + create.size() + apply.size() + delete.size();
    if (actions > 1) {
      throw QemuErrors.usage("Cannot mix '-l', '-a', '-c', '-d'");
    }
    if (files.size() != 1) {
      throw QemuErrors.usage("Expecting one image file name");
    }
    String file = files.getFirst();
    boolean readOnly = list.length > 0 || actions == 0;
    // listing lets others do anything meanwhile, as qemu-img snapshot -l does
    OpenOptions options = readOnly ? OpenOptions.readOnlyDefaults().withSharedPermissions(ImageArguments.SHARE_ALL)
        : OpenOptions.readWriteDefaults();
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, null, forceShare, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    try (DiskFile disk = ImageArguments.open(image, options, secrets)) {
      if (list.length > 0) {
        list(disk);
      } else if (!create.isEmpty()) {
        create(disk, create.getFirst());
      } else if (!apply.isEmpty()) {
        apply(disk, apply.getFirst());
      } else if (!delete.isEmpty()) {
        delete(disk, delete.getFirst());
      }
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
    return 0;
  }

  /** qemu-img's dump_snapshots: nothing at all when there are none. */
  private void list(DiskFile disk) throws IOException {
    if (disk.info().qcow2() == null) {
      return;
    }
    List<SnapshotInfo> snapshots = disk.info().qcow2().snapshots();
    if (snapshots.isEmpty()) {
      return;
    }
    PrintWriter out = spec.commandLine().getOut();
    StringBuilder text = new StringBuilder("Snapshot list:\n");
    text.append(String.format("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT"))
        .append('\n');
    for (SnapshotInfo snapshot : snapshots) {
      text.append(InfoCommand.snapshotRow(snapshot)).append('\n');
    }
    out.print(text);
    out.flush();
  }

  private static void create(DiskFile disk, String name) {
    if (!(disk instanceof QcowFile image)) {
      throw new CommandFailure("Could not create snapshot '" + name + "': -95 (Operation not supported)", 1);
    }
    try {
      image.createSnapshot(name);
    } catch (ImageLimitException e) {
      throw new CommandFailure("Could not create snapshot '" + name + "': -27 (File too large)", 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure("Could not create snapshot '" + name + "': " + Failures.reason(e, null), 1, e);
    }
  }

  private static void apply(DiskFile disk, String name) {
    if (!(disk instanceof QcowFile image)) {
      throw new CommandFailure("Could not apply snapshot '" + name + "': Block driver does not support snapshots", 1);
    }
    if (find(image, name, true) == null) {
      throw new CommandFailure("Could not apply snapshot '" + name + "': Failed to load snapshot: No such file or directory", 1);
    }
    try {
      image.applySnapshot(name);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure("Could not apply snapshot '" + name + "': " + Failures.reason(e, null), 1, e);
    }
  }

  private static void delete(DiskFile disk, String name) {
    Snapshot snapshot = disk instanceof QcowFile image ? find(image, name, false) : null;
    if (snapshot == null) {
      throw new CommandFailure("Could not delete snapshot '" + name + "': snapshot not found", 1);
    }
    try {
      // ids are unique where names need not be: the snapshot found by name is deleted by its id
      ((QcowFile) disk).deleteSnapshot(snapshot.id());
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure("Could not delete snapshot '" + name + "': " + Failures.reason(e, null), 1, e);
    }
  }

  /** The first snapshot with this id (when {@code byIdFirst}) or else this name, as QEMU searches; null if none. */
  private static Snapshot find(QcowFile image, String name, boolean byIdFirst) {
    if (byIdFirst) {
      for (Snapshot snapshot : image.snapshots()) {
        if (snapshot.id().equals(name)) {
          return snapshot;
        }
      }
    }
    for (Snapshot snapshot : image.snapshots()) {
      if (snapshot.name().equals(name)) {
        return snapshot;
      }
    }
    return null;
  }
}
