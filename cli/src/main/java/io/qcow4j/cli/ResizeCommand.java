package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.ops.ImageResize;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img resize: the size is always the last argument (so "-1G" is a size, not an option), with
 * a leading + or - for a relative change; shrinking needs --shrink. The resize itself is
 * {@link ImageResize#resize}.
 */
final class ResizeCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  boolean shrink;
  String preallocation;
  boolean quiet;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;
  /** The last word: the new size, or with + or - a change of it. */
  String sizeText;

  private ResizeCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /**
   * Parses the command's words as qemu-img's img_resize does (the size, always the last word, is
   * taken off first, so "-1G" is no option), then runs it; the exit status.
   */
  static int main(Invocation whole) {
    if (whole.argc() < 3) {
      return whole.usageError("Not enough arguments");
    }
    ResizeCommand command = new ResizeCommand(whole);
    command.sizeText = whole.lastWord();
    Invocation invocation = whole.withoutLastWord();
    Getopt getopt = invocation.getopt(":f:hq", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.withArgument("preallocation", Invocation.PREALLOCATION),
        Getopt.LongOption.flag("shrink", Invocation.SHRINK)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'q' -> command.quiet = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.PREALLOCATION -> {
          command.preallocation = getopt.optarg();
          if (Preallocation.fromName(command.preallocation) == null) {
            return invocation.error("Invalid preallocation mode '" + command.preallocation + "'");
          }
        }
        case Invocation.SHRINK -> command.shrink = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting image file name and size");
    }
    command.file = operands.getFirst();
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return resize();
  }

  private int resize() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    int relative = 0;
    String magnitude = sizeText;
    if (sizeText.startsWith("+")) {
      relative = 1;
      magnitude = sizeText.substring(1);
    } else if (sizeText.startsWith("-")) {
      relative = -1;
      magnitude = sizeText.substring(1);
    }
    ImageResize.SizeChange change = ImageResize.SizeChange.by(relative, parseSize(magnitude));
    Preallocation mode = preallocationMode();
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults(), secrets, err)) {
      ImageResize.resize(disk, change, shrink, mode);
    } catch (ImageResize.ResizeException e) {
      String warning = e.refusal() == ImageResize.ResizeException.Refusal.SHRINK_NOT_ALLOWED ? "\n" + QemuErrors.PREFIX
          + "warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing "
          + "such an operation, make sure there is no important data there." : "";
      throw new CommandFailure(e.getMessage() + warning, 1, e);
    } catch (CommandFailure e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(Failures.reason(e, file), 1, e);
    }
    if (!quiet) {
      out.println("Image resized.");
      out.flush();
    }
    return 0;
  }

  /** --preallocation as qemu-img reads it (off when absent); metadata is refused for a format without it once the image is open. */
  private Preallocation preallocationMode() {
    if (preallocation == null) {
      return Preallocation.OFF;
    }
    Preallocation mode = Preallocation.fromName(preallocation);
    if (mode == null) {
      throw new CommandFailure("Invalid preallocation mode '" + preallocation + "'", 1);
    }
    return mode;
  }

  /** The size as qemu_opt_set parses a "size" option, with its messages. */
  private static long parseSize(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Value '" + text + "' is out of range for parameter 'size'", 1, e);
      }
      throw new CommandFailure("Parameter 'size' expects a non-negative number below 2^64\n"
          + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.", 1, e);
    }
  }
}
