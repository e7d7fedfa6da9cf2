package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.KeySlotAmendment;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.options.AmendOptionsReader;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * qemu-img amend: change the compat level, lazy refcounts, refcount width or size of a qcow2 image,
 * or the LUKS key slots of a raw LUKS image or an encrypted qcow2 image,
 * with img_amend's order of checks (-o help before or after the image is opened) and its messages.
 */
final class AmendCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  List<String> options = new ArrayList<>();
  boolean progress;
  boolean quiet;
  boolean force;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  List<String> files = new ArrayList<>();

  private AmendCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_amend does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    AmendCommand command = new AmendCommand(invocation);
    String cache = null;
    Getopt getopt = invocation.getopt(":ho:f:t:pq", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force", Invocation.FORCE)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'o' -> {
          command.options.add(getopt.optarg());
          if (!invocation.valid(() -> QemuOpts.accumulate(command.options))) {
            return 1;
          }
        }
        case 'f' -> command.format = getopt.optarg();
        case 't' -> cache = getopt.optarg();
        case 'p' -> command.progress = true;
        case 'q' -> command.quiet = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.FORCE -> command.force = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    command.files = getopt.operands();
    if (cache != null && !CacheMode.valid(cache)) {
      return invocation.error("Invalid cache option: " + cache);
    }
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return amend();
  }

  private int amend() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    String optionList = QemuOpts.accumulate(options);
    if (optionList == null) {
      throw QemuErrors.usage("Must specify options (-o)");
    }
    // qemu-img starts its progress report here without printing it, and ends it (the newline)
    // whatever happens after, help included
    ProgressPrinter printer = ProgressPrinter.start(out, err, progress && !quiet, 1.0f);
    try {
      return amend(out, secrets, optionList, printer);
    } finally {
      printer.end();
    }
  }

  private int amend(PrintWriter out, Secrets secrets, String optionList, ProgressPrinter printer) {
    boolean help = OptionSyntax.wantsHelp(optionList);
    if (format != null && help) {
      out.print(amendHelp(() -> OptionHelp.amend(format)));
      out.flush();
      return 0;
    }
    if (files.size() != 1) {
      throw new CommandFailure("Expecting one image file name", 1);
    }
    String file = files.getFirst();
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG, err);
    ImageFormat imageFormat;
    try {
      imageFormat = image.format() != null ? image.format() : DiskImages.probe(image.path());
    } catch (IOException e) {
      throw ImageArguments.couldNotOpen(image, e);
    }
    if (imageFormat != ImageFormat.QCOW2 && imageFormat != ImageFormat.LUKS) {
      // qemu-img opens the image first; a format without amendment fails the same either way
      if (help) {
        out.print(amendHelp(() -> OptionHelp.amend(imageFormat)));
        out.flush();
        return 0;
      }
      if (image.format() == null && imageFormat == ImageFormat.RAW) {
        Images.warnProbedRaw(image.filename(), err);
      }
      throw new CommandFailure("Format driver '" + imageFormat.id() + "' does not support option amendment", 1);
    }
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults().withFormat(imageFormat),
        secrets, err)) {
      if (help) {
        out.print(amendHelp(() -> OptionHelp.amend(imageFormat)));
        out.flush();
        return 0;
      }
      AmendOptions amend;
      try {
        amend = withSecrets(AmendOptionsReader.read(imageFormat, optionList, encryption(disk)), secrets);
      } catch (InvalidOptionException e) {
        throw new CommandFailure(e.getMessage(), 1, e);
      }
      // qemu-img reports 0 before the amendment and 100 after it, even when it failed
      printer.print(0, 0);
      try {
        // amend_status_cb: each report printed as its percentage
        disk.amend(amend, (offset, totalWork) -> printer.print(100f * offset / totalWork, 0));
      } finally {
        printer.print(100, 0);
      }
    } catch (InvalidOptionException e) {
      // the hint names the tool as this process is called
      throw new CommandFailure(e.getMessage().replace("'qemu-img rebase'",
          "'" + Program.current().toolName() + " rebase'"), 1, e);
    } catch (IOException e) {
      String reason = Failures.reason(e, file);
      if (reason.equals("Snapshot L1 table offset invalid") || reason.equals("Snapshot L1 table too large")) {
        // qcow2_expand_zero_clusters reports a bad snapshot L1 table itself; the downgrade fails with its errno
        err.println(QemuErrors.PREFIX + reason);
        err.flush();
        throw new CommandFailure("Failed to turn zero into data clusters: "
            + (e instanceof io.qcow4j.disk.ImageLimitException ? "File too large" : "Invalid argument"), 1, e);
      }
      throw new CommandFailure(reason, 1, e);
    }
    return 0;
  }

  /** The image's encryption format ("luks", "aes"), or null for none. */
  private static String encryption(DiskFile disk) throws IOException {
    ImageInfo info = disk.info();
    if (info.qcow2() == null) {
      return info.luks() != null ? "luks" : null;
    }
    return info.qcow2().encryption() == null ? null : info.qcow2().encryption().format();
  }

  /** The key slot change given the --object secrets it names and --force. */
  private AmendOptions withSecrets(AmendOptions amend, Secrets secrets) {
    if (amend.keySlots().isEmpty()) {
      return amend;
    }
    KeySlotAmendment change = amend.keySlots().get();
    Map<String, byte[]> named = new HashMap<>();
    for (Optional<String> id : List.of(change.newSecret(), change.oldSecret())) {
      if (id.isPresent() && secrets.contains(id.get())) {
        try {
          named.put(id.get(), secrets.bytes(id.get()));
        } catch (ImageSpecException e) {
          throw new IllegalStateException("a secret that is defined has bytes", e);
        }
      }
    }
    return amend.withKeySlots(change.withSecrets(named).withForce(force));
  }

  /** A help text that may be refused. */
  private interface HelpText {
    String get() throws InvalidOptionException;
  }

  private static String amendHelp(HelpText text) {
    try {
      return text.get();
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
  }
}
