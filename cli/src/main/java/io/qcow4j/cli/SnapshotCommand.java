package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.ops.ImageSnapshots;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * qemu-img snapshot: list, create, apply or delete internal snapshots ({@link ImageSnapshots}, which
 * finds them as qemu-img does); a raw image lists nothing and refuses the rest with qemu-img's
 * messages.
 */
@Command(
    name = "snapshot",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
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
    try (DiskFile disk = ImageArguments.open(image, options, secrets, spec.commandLine().getErr())) {
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
    List<SnapshotInfo> snapshots = ImageSnapshots.list(disk);
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
    String failed = "Could not create snapshot '" + name + "': ";
    try {
      ImageSnapshots.create(disk, name);
    } catch (ImageSnapshots.SnapshotException e) {
      throw new CommandFailure(failed + "-95 (Operation not supported)", 1, e);
    } catch (ImageLimitException e) {
      throw new CommandFailure(failed + "-27 (File too large)", 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    }
  }

  private static void apply(DiskFile disk, String name) {
    String failed = "Could not apply snapshot '" + name + "': ";
    try {
      ImageSnapshots.apply(disk, name);
    } catch (ImageSnapshots.SnapshotException e) {
      throw new CommandFailure(failed + (e.refusal() == ImageSnapshots.SnapshotException.Refusal.NOT_SUPPORTED
          ? "Block driver does not support snapshots" : "Failed to load snapshot: No such file or directory"), 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    }
  }

  private static void delete(DiskFile disk, String name) {
    String failed = "Could not delete snapshot '" + name + "': ";
    try {
      ImageSnapshots.delete(disk, name);
    } catch (ImageSnapshots.SnapshotException e) {
      throw new CommandFailure(failed + "snapshot not found", 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    }
  }
}
