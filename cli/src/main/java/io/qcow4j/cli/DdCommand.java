package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageCreate;
import io.qcow4j.options.FormatNames;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img dd: copies an image (from a block offset, up to a block count) into a new image of
 * the output format, one block at a time, as qemu-img's img_dd does: operands if=, of=, bs=,
 * count=, skip=; the output is created at the size left to copy and every block is written, zeros
 * included.
 */
final class DdCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String outputFormat = "raw";
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String input;
  String output;
  int blockSize = 512;
  long count = -1;
  long skip = -1;

  private DdCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the words as img_dd does (options, then NAME=VALUE operands), then copies; the exit status. */
  static int main(Invocation invocation) {
    DdCommand command = new DdCommand(invocation);
    Getopt getopt = invocation.getopt(":hf:O:U", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'O' -> command.outputFormat = getopt.optarg();
        case 'f' -> command.format = getopt.optarg();
        case 'h' -> {
          return invocation.help();
        }
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
    }
    for (String operand : getopt.operands()) {
      int equals = operand.indexOf('=');
      String name = equals < 0 ? null : operand.substring(0, equals);
      String value = equals < 0 ? null : operand.substring(equals + 1);
      if (name == null || !List.of("bs", "count", "if", "of", "skip").contains(name)) {
        // img_dd has cut the word at '=' by then
        return invocation.error("unrecognized operand " + (name == null ? operand : name));
      }
      boolean valid = invocation.valid(() -> command.operand(name, value));
      if (!valid) {
        return 1;
      }
    }
    if (command.input == null || command.output == null) {
      return invocation.error("Must specify both input and output files");
    }
    return invocation.executeQemuStyle(command);
  }

  private void operand(String name, String value) {
    switch (name) {
      case "bs" -> {
        long size = SizeOption.parse("bs", value);
        if (size < 1 || size > Integer.MAX_VALUE) {
          throw new CommandFailure("Invalid bs specified. Must be between 1 and " + Integer.MAX_VALUE + ".", 1);
        }
        blockSize = (int) size;
      }
      case "count" -> count = SizeOption.parse("count", value);
      case "if" -> input = value;
      case "of" -> output = value;
      default -> skip = SizeOption.parse("skip", value);
    }
  }

  @Override
  public Integer call() throws Exception {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    ImageSpec inputSpec = ImageArguments.spec(input, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile source = ImageArguments.open(inputSpec, OpenOptions.readOnlyDefaults(), secrets, err)) {
      ImageFormat format = outputFormat();
      long size = source.size();
      if (count >= 0 && count <= Long.MAX_VALUE / blockSize && count * blockSize < size) {
        size = count * blockSize;
      }
      // a skip past the end makes an empty image, with a complaint, as dd(1) does
      boolean skipPastEnd = skip >= 0 && (skip > Long.MAX_VALUE / blockSize || size < skip * blockSize);
      long start = skip < 0 ? 0 : skipPastEnd ? size : skip * blockSize;
      try {
        ImageCreate.plan(output, format, "", size - start, null, null, false).create();
      } catch (IOException | RuntimeException e) {
        throw new CommandFailure(output + ": error while creating output image: " + Failures.reason(e, output), 1, e);
      }
      try (DiskFile target = ImageArguments.open(ImageSpec.ofFilename(output, format),
          OpenOptions.readWriteDefaults(), Secrets.none(), err)) {
        if (skipPastEnd) {
          err.println(QemuErrors.PREFIX + input + ": cannot skip to specified offset");
          err.flush();
        }
        copy(source, target, start, size);
      }
    }
    return 0;
  }

  private ImageFormat outputFormat() {
    try {
      return FormatNames.outputFormat(outputFormat);
    } catch (InvalidOptionException e) {
      // img_dd's words: a name QEMU has no driver for, or one that cannot create
      throw new CommandFailure(e.getMessage().startsWith("Unknown file format") ? "Unknown file format" : e.getMessage(),
          1, e);
    }
  }

  /** Block by block, each read then written whole (zeros too), as img_dd's loop does. */
  private void copy(DiskFile source, DiskFile target, long start, long end) {
    ByteBuffer block = ByteBuffer.allocate(blockSize);
    long outputOffset = 0;
    for (long inputOffset = start; inputOffset < end; ) {
      int bytes = (int) Math.min(blockSize, end - inputOffset);
      block.clear().limit(bytes);
      try {
        source.readFully(block, inputOffset);
      } catch (IOException e) {
        throw new CommandFailure("error while reading from input image file: " + Failures.reason(e, input), 1, e);
      }
      inputOffset += bytes;
      block.flip();
      try {
        target.writeFully(block, outputOffset);
      } catch (IOException e) {
        throw new CommandFailure("error while writing to output image file: " + Failures.reason(e, output), 1, e);
      }
      outputOffset += bytes;
    }
  }
}
