package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageBench;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** qemu-img bench: time many reads or writes with several in flight, and print how long they took. */
final class BenchCommand implements Callable<Integer> {
  private static final Set<String> AIO_MODES = Set.of("threads", "native", "io_uring");
  private final PrintWriter out;
  private final PrintWriter err;
  String count;
  String depth;
  String format;
  String flushInterval;
  boolean noDrain;
  String aio;
  boolean nativeAio;
  String offset;
  String pattern;
  boolean quiet;
  String bufferSize;
  String stepSize;
  String cache;
  boolean write;
  boolean forceShare;
  boolean imageOpts;
  String file;

  private BenchCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_bench does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    BenchCommand command = new BenchCommand(invocation);
    Getopt getopt = invocation.getopt(":hc:d:f:ni:o:qs:S:t:wU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("flush-interval", Invocation.FLUSH_INTERVAL),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.withArgument("pattern", Invocation.PATTERN),
        Getopt.LongOption.flag("no-drain", Invocation.NO_DRAIN),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'c' -> {
          command.count = getopt.optarg();
          if (!invocation.valid(() -> integer(command.count, 0, "Invalid request count specified"))) {
            return 1;
          }
        }
        case 'd' -> {
          command.depth = getopt.optarg();
          if (!invocation.valid(() -> integer(command.depth, 0, "Invalid queue depth specified"))) {
            return 1;
          }
        }
        case 'f' -> command.format = getopt.optarg();
        case 'n' -> command.nativeAio = true;
        case 'i' -> {
          command.aio = getopt.optarg();
          if (!AIO_MODES.contains(command.aio)) {
            return invocation.error("Invalid aio option: " + command.aio);
          }
        }
        case 'o' -> {
          command.offset = getopt.optarg();
          if (!invocation.valid(() -> size(command.offset, "Invalid offset specified", Long.MAX_VALUE))) {
            return 1;
          }
        }
        case 'q' -> command.quiet = true;
        case 's' -> {
          command.bufferSize = getopt.optarg();
          if (!invocation.valid(() -> size(command.bufferSize, "Invalid buffer size specified", Integer.MAX_VALUE))) {
            return 1;
          }
        }
        case 'S' -> {
          command.stepSize = getopt.optarg();
          if (!invocation.valid(() -> size(command.stepSize, "Invalid step_size specified", Integer.MAX_VALUE))) {
            return 1;
          }
        }
        case 't' -> {
          command.cache = getopt.optarg();
          if (!CacheMode.valid(command.cache)) {
            return invocation.error("Invalid cache mode");
          }
        }
        case 'w' -> command.write = true;
        case 'U' -> command.forceShare = true;
        case Invocation.FLUSH_INTERVAL -> {
          command.flushInterval = getopt.optarg();
          if (!invocation.valid(() -> integer(command.flushInterval, 0, "Invalid flush interval specified"))) {
            return 1;
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.PATTERN -> command.pattern = getopt.optarg();
        case Invocation.NO_DRAIN -> command.noDrain = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting one image file name");
    }
    command.file = operands.getFirst();
    return invocation.execute(command);
  }

  @Override
  public Integer call() {
    long requests = count == null ? 75000 : integer(count, 0, "Invalid request count specified");
    int inFlight = depth == null ? 64 : (int) integer(depth, 1, "Invalid queue depth specified");
    long start = offset == null ? 0 : size(offset, "Invalid offset specified", Long.MAX_VALUE);
    int bytes = bufferSize == null ? 4096 : (int) size(bufferSize, "Invalid buffer size specified", Integer.MAX_VALUE);
    long step = stepSize == null ? 0 : size(stepSize, "Invalid step_size specified", Integer.MAX_VALUE);
    if (step == 0) {
      step = bytes;
    }
    long byteValue = 0;
    if (pattern != null) {
      Long parsed = QemuNumbers.parseCInteger(pattern);
      if (parsed == null || parsed < 0 || parsed > 0xff) {
        throw new CommandFailure("Invalid pattern byte specified", 1);
      }
      byteValue = parsed;
    }
    long interval = flushInterval == null ? 0 : integer(flushInterval, 0, "Invalid flush interval specified");
    if (cache != null && !Set.of("none", "off", "writeback", "writethrough", "directsync", "unsafe").contains(cache)) {
      throw new CommandFailure("Invalid cache mode", 1);
    }
    if (aio != null && !AIO_MODES.contains(aio)) {
      throw new CommandFailure("Invalid aio option: " + aio, 1);
    }
    if (!write && interval > 0) {
      throw new CommandFailure("--flush-interval is only available in write tests", 1);
    }
    if (interval > 0 && interval < inFlight) {
      throw new CommandFailure("Flush interval can't be smaller than depth", 1);
    }
    if ((nativeAio || "native".equals(aio)) && !"none".equals(cache) && !"directsync".equals(cache)) {
      throw new CommandFailure("Could not open '" + file + "': aio=native was specified, but it requires cache.direct=on,"
          + " which was not specified.", 1);
    }
    ImageBench.Settings settings = new ImageBench.Settings(requests, inFlight, start, bytes, step, write,
        (byte) byteValue, interval, !noDrain);
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readOnlyDefaults().withReadOnly(!write),
        Secrets.none(), err)) {
      out.println("Sending " + requests + " " + (write ? "write" : "read") + " requests, " + bytes + " bytes each, "
          + inFlight + " in parallel (starting at offset " + start + ", step size " + step + ")");
      if (interval > 0) {
        out.println("Sending flush every " + interval + " requests");
      }
      out.flush();
      Duration elapsed = ImageBench.run(disk, settings);
      out.println("Run completed in " + QemuNumbers.fixed(elapsed.toNanos() / 1e9, 3) + " seconds.");
      out.flush();
    } catch (ImageBench.RequestFailure e) {
      // qemu-img reports the errno of every failed request, EIO for one past the end
      throw new CommandFailure("Failed request: Input/output error (" + Failures.reason(e.getCause(), file) + ")", 1, e);
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
    return 0;
  }

  /** An int option as qemu-img reads it (decimal, 0x hex, 0 octal; no suffix), at least {@code min}. */
  private static long integer(String text, long min, String message) {
    Long value = QemuNumbers.parseCInteger(text);
    if (value == null || value < min || value > Integer.MAX_VALUE) {
      throw new CommandFailure(message, 1);
    }
    return value;
  }

  /** A size option (k, M, G... suffixes) up to {@code max}, as qemu-img's cvtnum_full reads it, with its messages. */
  private static long size(String text, String message, long max) {
    String what = message.substring("Invalid ".length(), message.length() - " specified".length());
    long value = text == null ? 0 : SizeOption.parse(what, text);
    if (value > max) {
      throw new CommandFailure(message + ". Must be between 0 and " + max + ".", 1);
    }
    return value;
  }
}
