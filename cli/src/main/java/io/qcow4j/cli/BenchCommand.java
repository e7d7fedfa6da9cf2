package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageBench;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** qemu-img bench: time many reads or writes with several in flight, and print how long they took. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Run a simple sequential I/O benchmark on FILE (reads, or writes with -w), like qemu-img bench.")
final class BenchCommand implements Callable<Integer> {
  private static final Set<String> AIO_MODES = Set.of("threads", "native", "io_uring");

  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-c", paramLabel = "COUNT", description = "Number of requests (default 75000).")
  String count;

  @Option(names = "-d", paramLabel = "DEPTH", description = "Requests in flight at once (default 64).")
  String depth;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = "--flush-interval", paramLabel = "N", description = "Flush after every N requests (write tests only; at least the depth).")
  String flushInterval;

  @Option(names = "--no-drain", description = "Flush without waiting for the requests in flight.")
  boolean noDrain;

  @Option(names = "-i", paramLabel = "AIO", description = "AIO mode (threads, native, io_uring): accepted; qcow4j uses virtual threads.")
  String aio;

  @Option(names = "-n", description = "Native AIO (needs -t none): accepted; qcow4j uses virtual threads.")
  boolean nativeAio;

  @Option(names = "-o", paramLabel = "OFFSET", description = "Offset of the first request (default 0).")
  String offset;

  @Option(names = "--pattern", paramLabel = "BYTE", description = "Byte value written (default 0).")
  String pattern;

  @Option(names = {"-q", "--quiet"}, description = "Accepted, as qemu-img bench prints its two lines anyway.")
  boolean quiet;

  @Option(names = "-s", paramLabel = "BUFFER_SIZE", description = "Bytes per request (default 4k).")
  String bufferSize;

  @Option(names = "-S", paramLabel = "STEP_SIZE", description = "Bytes between the starts of two requests (default: the request size).")
  String stepSize;

  @Option(names = "-t", paramLabel = "CACHE", description = "Cache mode (none, writeback, ...): accepted; qcow4j always uses the page cache.")
  String cache;

  @Option(names = "-w", description = "Write instead of read.")
  boolean write;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share (read tests only).")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

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
    PrintWriter out = spec.commandLine().getOut();
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, forceShare, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readOnlyDefaults().withReadOnly(!write),
        Secrets.none(), spec.commandLine().getErr())) {
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

  /** A size option (k, M, G... suffixes) up to {@code max}, failing with qemu-img's message. */
  private static long size(String text, String message, long max) {
    try {
      long value = QemuNumbers.parseSize(text);
      if (value <= max) {
        return value;
      }
    } catch (QemuNumbers.SizeFormatException e) {
      // reported below
    }
    throw new CommandFailure(message + ". You may use k, M, G, T, P or E suffixes for kilobytes, megabytes,"
        + " gigabytes, terabytes, petabytes and exabytes.", 1);
  }
}
