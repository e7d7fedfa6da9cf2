package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.RefcountOverflowException;
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

/**
 * qemu-img snapshot: list, create, apply or delete internal snapshots ({@link ImageSnapshots}, which
 * finds them as qemu-img does); a raw image lists nothing and refuses the rest with qemu-img's
 * messages.
 */
final class SnapshotCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  boolean list;
  List<String> create = new ArrayList<>();
  List<String> apply = new ArrayList<>();
  List<String> delete = new ArrayList<>();
  boolean quiet;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  List<String> files = new ArrayList<>();

  private SnapshotCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_snapshot does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    SnapshotCommand command = new SnapshotCommand(invocation);
    boolean action = false;
    Getopt getopt = invocation.getopt(":la:c:d:hqU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      if ((option == 'l' || option == 'a' || option == 'c' || option == 'd') && action) {
        return invocation.usageError("Cannot mix '-l', '-a', '-c', '-d'");
      }
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'l' -> command.list = true;
        case 'a' -> command.apply.add(getopt.optarg());
        case 'c' -> command.create.add(getopt.optarg());
        case 'd' -> command.delete.add(getopt.optarg());
        case 'q' -> command.quiet = true;
        case 'U' -> command.forceShare = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
      action |= option == 'l' || option == 'a' || option == 'c' || option == 'd';
    }
    command.files = getopt.operands();
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return run();
  }

  private int run() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    int actions = (list ? 1 : 0) + create.size() + apply.size() + delete.size();
    if (actions > 1) {
      throw QemuErrors.usage("Cannot mix '-l', '-a', '-c', '-d'");
    }
    if (files.size() != 1) {
      throw QemuErrors.usage("Expecting one image file name");
    }
    String file = files.getFirst();
    boolean readOnly = list || actions == 0;
    // listing lets others do anything meanwhile, as qemu-img snapshot -l does
    OpenOptions options = readOnly ? OpenOptions.readOnlyDefaults().withSharedPermissions(ImageArguments.SHARE_ALL)
        : OpenOptions.readWriteDefaults();
    ImageSpec image = ImageArguments.spec(file, imageOpts, null, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile disk = ImageArguments.open(image, options, secrets, err)) {
      if (list) {
        list(disk);
      } else if (!create.isEmpty()) {
        create(disk, create.getFirst());
      } else if (!apply.isEmpty()) {
        apply(disk, apply.getFirst());
      } else if (!delete.isEmpty()) {
        delete(disk, delete.getFirst(), err);
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
    } catch (RefcountOverflowException e) {
      throw new CommandFailure(failed + "-22 (Invalid argument)", 1, e);
    } catch (IOException | RuntimeException e) {
      if (e instanceof IOException && e.getMessage() != null
          && e.getMessage().endsWith("(Resource temporarily unavailable)")) {
        // a reference to a cluster without a refcount block (QEMU's EAGAIN)
        throw new CommandFailure(failed + "-11 (Resource temporarily unavailable)", 1, e);
      }
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    }
  }

  private void apply(DiskFile disk, String name) {
    String failed = "Could not apply snapshot '" + name + "': ";
    try {
      ImageSnapshots.apply(disk, name);
    } catch (ImageSnapshots.SnapshotException e) {
      throw new CommandFailure(failed + (e.refusal() == ImageSnapshots.SnapshotException.Refusal.NOT_SUPPORTED
          ? "Block driver does not support snapshots" : "Failed to load snapshot: No such file or directory"), 1, e);
    } catch (RefcountOverflowException e) {
      throw new CommandFailure(failed + "Failed to load snapshot: Invalid argument", 1, e);
    } catch (ImageException e) {
      // qcow2_snapshot_goto reports a bad snapshot L1 table itself, then fails with its errno
      String message = e.getMessage();
      if (message.endsWith(": Snapshot L1 table too large") || message.endsWith(": Snapshot L1 table offset invalid")) {
        err.println(QemuErrors.PREFIX + message.substring(message.lastIndexOf(": ") + 2));
        err.flush();
        throw new CommandFailure(failed + "Failed to load snapshot: " + (e instanceof ImageLimitException
            ? "File too large" : "Invalid argument"), 1, e);
      }
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(failed + Failures.reason(e, null), 1, e);
    }
  }

  private static void delete(DiskFile disk, String name, PrintWriter err) {
    String file = disk.files().isEmpty() ? null : disk.files().getFirst().toString();
    String failed = "Could not delete snapshot '" + name + "': ";
    try {
      try {
        ImageSnapshots.delete(disk, name);
      } finally {
        // what QEMU's driver prints itself on the way (a free that failed), before qemu-img's error
        if (disk instanceof io.qcow4j.qcow2.QcowFile qcow) {
          qcow.takeDiagnostics().forEach(err::println);
          err.flush();
        }
      }
    } catch (ImageSnapshots.SnapshotException e) {
      throw new CommandFailure(failed + "snapshot not found", 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(failed + Failures.reason(e, file), 1, e);
    }
  }
}
