package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.ImageMap;
import io.qcow4j.ops.RangeReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The commands of qemu-io that qcow4j runs (read, length, map), with qemu-io's argument parsing,
 * messages (which stream each goes to included) and return values: 0 on success, negative on failure.
 */
final class QemuIoShell {
  /** BDRV_REQUEST_MAX_BYTES: the longest single request qemu-io accepts. */
  static final long MAX_REQUEST_BYTES = 2147483136L;
  private static final int EINVAL = -22;
  private static final int EIO = -5;
  private static final String READ_USAGE =
      "read [-abCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset";
  /** qemu-io commands (and their short names) that need the write path or are not implemented yet. */
  private static final Set<String> NOT_YET = Set.of(
      "write", "w", "writev", "readv", "multiwrite", "aio_read", "aio_write", "aio_flush", "flush", "f",
      "truncate", "t", "discard", "d", "info", "i", "alloc", "a", "open", "o", "close", "c", "reopen",
      "break", "remove_break", "resume", "wait_break", "abort", "sigraise", "sleep", "help", "?", "quit", "q");

  private final DiskFile disk;
  private final PrintWriter out;
  private final PrintWriter err;

  QemuIoShell(DiskFile disk, PrintWriter out, PrintWriter err) {
    this.disk = disk;
    this.out = out;
    this.err = err;
  }

  /** Runs one command line; 0 on success, a negative errno-like value on failure. */
  int execute(String commandLine) {
    List<String> words = breakLine(commandLine);
    if (words.isEmpty()) {
      return 0;
    }
    String name = words.getFirst();
    List<String> args = words.subList(1, words.size());
    int result = switch (name) {
      case "read", "r" -> checkCount(name, args, 2, -1) ? read(args) : EINVAL;
      case "length" -> checkCount(name, args, 0, 0) ? length() : EINVAL;
      case "map" -> checkCount(name, args, 0, 0) ? map() : EINVAL;
      default -> {
        if (NOT_YET.contains(name)) {
          err.println("command \"" + name + "\" is not supported by qcow4j yet");
        } else {
          err.println("command \"" + name + "\" not found");
        }
        yield EINVAL;
      }
    };
    out.flush();
    err.flush();
    return result;
  }

  /** qemu-io's breakline: words separated by single spaces, empty words dropped. */
  static List<String> breakLine(String line) {
    List<String> words = new ArrayList<>();
    for (String word : line.split(" ", -1)) {
      if (!word.isEmpty()) {
        words.add(word);
      }
    }
    return words;
  }

  private boolean checkCount(String name, List<String> args, int min, int max) {
    int count = args.size();
    if (count >= min && (max == -1 || count <= max)) {
      return true;
    }
    if (max == -1) {
      err.println("bad argument count " + count + " to " + name + ", expected at least " + min + " arguments");
    } else if (min == max) {
      err.println("bad argument count " + count + " to " + name + ", expected " + min + " arguments");
    } else {
      err.println("bad argument count " + count + " to " + name + ", expected between " + min + " and " + max + " arguments");
    }
    return false;
  }

  private int read(List<String> args) {
    Getopt options = new Getopt("read", args, "bCl:pP:qs:vE");
    boolean parsable = false;
    boolean quiet = false;
    boolean verbose = false;
    boolean patternGiven = false;
    boolean lengthGiven = false;
    boolean offsetGiven = false;
    int pattern = 0;
    long patternOffset = 0;
    long patternCount = 0;
    for (Getopt.Option option = options.next(); option != null; option = options.next()) {
      switch (option.letter()) {
        case 'b' -> {
          err.println("read: -b (the VM state area) is not supported by qcow4j");
          return EINVAL;
        }
        case 'C' -> parsable = true;
        case 'l' -> {
          lengthGiven = true;
          patternCount = number(option.argument());
          if (patternCount < 0) {
            return (int) patternCount;
          }
        }
        case 'p', 'E' -> { }
        case 'P' -> {
          patternGiven = true;
          Long value = QemuNumbers.parseCInteger(option.argument());
          if (value == null || value < 0 || value > 255) {
            out.println(option.argument() + " is not a valid pattern byte");
            return EINVAL;
          }
          pattern = value.intValue();
        }
        case 'q' -> quiet = true;
        case 's' -> {
          offsetGiven = true;
          patternOffset = number(option.argument());
          if (patternOffset < 0) {
            return (int) patternOffset;
          }
        }
        case 'v' -> verbose = true;
        default -> {
          if (option.letter() == Getopt.MISSING_ARGUMENT) {
            err.println("read: option requires an argument -- '" + option.argument() + "'");
          } else {
            err.println("read: invalid option -- '" + option.argument() + "'");
          }
          out.println(READ_USAGE);
          return EINVAL;
        }
      }
    }
    List<String> operands = options.operands();
    if (operands.size() != 2) {
      out.println(READ_USAGE);
      return EINVAL;
    }
    long offset = number(operands.get(0));
    if (offset < 0) {
      return (int) offset;
    }
    long count = number(operands.get(1));
    if (count < 0) {
      return (int) count;
    }
    if (count > MAX_REQUEST_BYTES) {
      out.println("length cannot exceed " + MAX_REQUEST_BYTES + ", given " + operands.get(1));
      return EINVAL;
    }
    if (!patternGiven && (lengthGiven || offsetGiven)) {
      out.println(READ_USAGE);
      return EINVAL;
    }
    if (!lengthGiven) {
      patternCount = count - patternOffset;
    }
    if (patternCount < 0 || patternCount + patternOffset > count) {
      out.println("pattern verification range exceeds end of read data");
      return EINVAL;
    }
    RangeReader.Pattern check = patternGiven ? new RangeReader.Pattern((byte) pattern, patternOffset, patternCount) : null;
    StringBuilder dump = verbose && !quiet ? new StringBuilder() : null;
    boolean matched;
    long started = System.nanoTime();
    try {
      matched = RangeReader.readAndCheck(disk, offset, count, check, (chunkOffset, buffer, length) -> {
        if (dump != null) {
          dumpBuffer(dump, buffer, length, chunkOffset, offset);
        }
      });
    } catch (EOFException e) {
      out.println("read failed: Input/output error");
      return EIO;
    } catch (IOException e) {
      out.println("read failed: " + Failures.reason(e, null));
      return EIO;
    }
    long elapsedNanos = Math.max(1, System.nanoTime() - started);
    int result = 0;
    if (!matched) {
      out.println("Pattern verification failed at offset " + (offset + patternOffset) + ", " + patternCount + " bytes");
      result = EINVAL;
    }
    if (quiet) {
      return result;
    }
    if (dump != null) {
      out.print(dump);
    }
    printReport("read", elapsedNanos, offset, count, count, 1, parsable);
    return result;
  }

  /** qemu-io's dump_buffer: 16 bytes a line, "%08x:  " then hex bytes, then the alphanumerics. */
  private static void dumpBuffer(StringBuilder dump, byte[] buffer, int length, long chunkOffset, long readOffset) {
    // lines start every 16 bytes from the read offset; chunks are a multiple of 16 bytes long
    for (int line = 0; line < length; line += 16) {
      dump.append(String.format("%08x:  ", chunkOffset + line));
      int end = Math.min(length, line + 16);
      for (int i = line; i < end; i++) {
        dump.append(String.format("%02x ", buffer[i] & 0xff));
      }
      dump.append(' ');
      for (int i = line; i < end; i++) {
        char c = (char) (buffer[i] & 0xff);
        dump.append((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ? c : '.');
      }
      dump.append('\n');
    }
  }

  /** qemu-io's print_report. */
  private void printReport(String operation, long elapsedNanos, long offset, long count, long total, int ops,
      boolean parsable) {
    double seconds = elapsedNanos / 1e9;
    if (!parsable) {
      out.println(operation + " " + total + "/" + count + " bytes at offset " + offset);
      out.println(QemuNumbers.ioSize(total) + ", " + ops + " ops; " + time(elapsedNanos, false) + " ("
          + QemuNumbers.ioSize(total / seconds) + "/sec and " + QemuNumbers.fixed(ops / seconds, 4) + " ops/sec)");
    } else {
      out.println(total + "," + ops + "," + time(elapsedNanos, true) + "," + QemuNumbers.fixed(total / seconds, 3) + ","
          + QemuNumbers.fixed(ops / seconds, 3));
    }
  }

  /** qemu-io's timestr: "00.12 sec" under a second, else "h:mm:ss.ss". */
  static String time(long nanos, boolean fixed) {
    long wholeSeconds = nanos / 1_000_000_000L;
    double fraction = (nanos % 1_000_000_000L) / 1e9;
    if (fixed || wholeSeconds > 0) {
      return String.format(Locale.ROOT, "%d:%02d:%05.2f", wholeSeconds / 3600, (wholeSeconds / 60) % 60,
          (wholeSeconds % 60) + fraction);
    }
    return String.format(Locale.ROOT, "%05.2f sec", fraction);
  }

  private int length() {
    try {
      out.println(QemuNumbers.ioSize(disk.size()));
      return 0;
    } catch (IOException e) {
      out.println("getlength: " + Failures.reason(e, null));
      return EIO;
    }
  }

  private int map() {
    try {
      ImageMap.topLayerRuns(disk, (start, length, allocated) ->
          out.println(QemuNumbers.ioSize(length) + " (0x" + Long.toHexString(length) + ") bytes "
              + (allocated ? "    allocated" : "not allocated") + " at offset " + QemuNumbers.ioSize(start)
              + " (0x" + Long.toHexString(start) + ")"));
      return 0;
    } catch (IOException e) {
      out.flush();
      err.println("qcow4j: Failed to get allocation status: " + Failures.reason(e, null));
      return EIO;
    }
  }

  /** qemu-io's cvtnum, printing its parse errors; negative on failure. */
  private long number(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        out.println("Parsing error: argument too large -- " + text);
        return -34;
      }
      out.println("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- " + text);
      return EINVAL;
    }
  }
}
