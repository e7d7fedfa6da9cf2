package io.qcow4j.cli;

import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img bitmap: the operations on one persistent dirty bitmap, in the order given, as qemu-img's
 * img_bitmap runs them; the first that fails ends the command (what ran before it is kept, stored
 * when the image closes).
 */
final class BitmapCommand implements Callable<Integer> {
  private static final int ADD = 300;
  private static final int REMOVE = 301;
  private static final int CLEAR = 302;
  private static final int ENABLE = 303;
  private static final int DISABLE = 304;
  private static final int MERGE = 305;

  /** One operation and, for --merge, its source bitmap. */
  private record Action(String op, String source) {}

  private final PrintWriter err;
  private final List<Action> actions = new ArrayList<>();
  private final List<String> objects = new ArrayList<>();
  private String format;
  private String sourceFormat;
  private String sourceFile;
  private long granularity;
  private boolean imageOpts;
  private List<String> operands = List.of();

  private BitmapCommand(Invocation invocation) {
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_bitmap does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    BitmapCommand command = new BitmapCommand(invocation);
    boolean add = false;
    boolean merge = false;
    Getopt getopt = invocation.getopt(":b:f:F:g:h", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("add", ADD),
        Getopt.LongOption.flag("remove", REMOVE),
        Getopt.LongOption.flag("clear", CLEAR),
        Getopt.LongOption.flag("enable", ENABLE),
        Getopt.LongOption.flag("disable", DISABLE),
        Getopt.LongOption.withArgument("merge", MERGE),
        Getopt.LongOption.withArgument("granularity", 'g'),
        Getopt.LongOption.withArgument("source-file", 'b'),
        Getopt.LongOption.withArgument("source-format", 'F')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'b' -> command.sourceFile = getopt.optarg();
        case 'f' -> command.format = getopt.optarg();
        case 'F' -> command.sourceFormat = getopt.optarg();
        case 'g' -> {
          String text = getopt.optarg();
          long[] value = new long[1];
          if (!invocation.valid(() -> value[0] = SizeOption.parse("granularity", text))) {
            return 1;
          }
          command.granularity = value[0];
        }
        case ADD -> {
          command.actions.add(new Action("add", null));
          add = true;
        }
        case REMOVE -> command.actions.add(new Action("remove", null));
        case CLEAR -> command.actions.add(new Action("clear", null));
        case ENABLE -> command.actions.add(new Action("enable", null));
        case DISABLE -> command.actions.add(new Action("disable", null));
        case MERGE -> {
          command.actions.add(new Action("merge", getopt.optarg()));
          merge = true;
        }
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
    }
    if (command.actions.isEmpty()) {
      return invocation.error("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
    }
    if (command.granularity != 0 && !add) {
      return invocation.error("granularity only supported with --add");
    }
    if (command.sourceFormat != null && command.sourceFile == null) {
      return invocation.error("-F only supported with -b");
    }
    if (command.sourceFile != null && !merge) {
      return invocation.error("Merge bitmap source file only supported with --merge");
    }
    command.operands = getopt.operands();
    if (command.operands.size() != 2) {
      return invocation.error("Expecting filename and bitmap name");
    }
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    Secrets secrets = ImageArguments.secrets(objects, err);
    String file = operands.get(0);
    String bitmap = operands.get(1);
    // no backing chain: the bitmaps are this image's own, whatever the contents
    OpenOptions options = OpenOptions.readWriteDefaults().withBackingPolicy(BackingPolicy.IGNORE);
    ImageSpec spec = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile disk = ImageArguments.open(spec, options, secrets, err)) {
      DiskFile source = null;
      try {
        if (sourceFile != null) {
          ImageSpec sourceSpec = ImageArguments.spec(sourceFile, false, sourceFormat, false,
              ImageArguments.Tool.QEMU_IMG, err);
          source = ImageArguments.open(sourceSpec, OpenOptions.readOnlyDefaults()
              .withBackingPolicy(BackingPolicy.IGNORE), secrets, err);
        }
        run(disk, source == null ? disk : source, bitmap);
      } finally {
        if (source != null) {
          source.close();
        }
      }
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, file), 1, e);
    }
    return 0;
  }

  private void run(DiskFile disk, DiskFile source, String bitmap) {
    for (Action action : actions) {
      try {
        QcowFile image = qcow2(disk, action.op(), bitmap);
        switch (action.op()) {
          case "add" -> image.addBitmap(bitmap, granularity, true);
          case "remove" -> image.removeBitmap(bitmap);
          case "clear" -> image.clearBitmap(bitmap);
          case "enable" -> image.enableBitmap(bitmap);
          case "disable" -> image.disableBitmap(bitmap);
          case "merge" -> image.mergeBitmap(bitmap, qcow2(source, "merge", action.source()), action.source());
          default -> throw new IllegalStateException(action.op());
        }
      } catch (IOException | RuntimeException e) {
        throw new CommandFailure("Operation " + action.op() + " on bitmap " + bitmap + " failed: "
            + Failures.reason(e, null), 1, e);
      }
    }
  }

  /** The image as qcow2; another format holds no bitmaps and stores none, with QEMU's words. */
  private static QcowFile qcow2(DiskFile disk, String op, String bitmap) throws IOException {
    if (disk instanceof QcowFile image) {
      return image;
    }
    throw new io.qcow4j.disk.BitmapException(op.equals("add") ? "Can't store persistent bitmaps to #block104: "
        + "Operation not supported" : "Dirty bitmap '" + bitmap + "' not found");
  }
}
