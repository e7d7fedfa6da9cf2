package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.ImageMap;
import io.qcow4j.ops.ImageWrites;
import io.qcow4j.ops.RangeReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * qemu-io's command interpreter: each line broken into words, the command found in
 * {@link QemuIoTable} and checked as qemu-io checks it (an image open, the argument count, write
 * permission), then run with qemu-io's argument parsing, messages (which stream each goes to
 * included) and return values: 0 on success, negative on failure. The data commands (read,
 * readv, write, writev, aio_read, aio_write, discard, flush, length, map) are here; what a request
 * does to the image is {@link ImageWrites} and {@link RangeReader}; the others are
 * {@link QemuIoControl}'s.
 */
final class QemuIoShell {
  /** BDRV_REQUEST_MAX_BYTES: the longest single request qemu-io accepts. */
  static final long MAX_REQUEST_BYTES = 2147483136L;
  private static final int EPERM = -1;
  private static final int EIO = -5;
  private static final int EINVAL = -22;
  private static final String READ_USAGE =
      "read [-abCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset";
  private static final String WRITE_USAGE =
      "write [-bcCfnquz] [-P pattern | -s source_file] off len -- writes a number of bytes at a specified offset";
  private static final String WRITEV_USAGE =
      "writev [-Cfq] [-P pattern] off len [len..] -- writes a number of bytes at a specified offset";
  private static final String READV_USAGE =
      "readv [-Cqv] [-P pattern] off len [len..] -- reads a number of bytes at a specified offset";
  private static final String DISCARD_USAGE = "discard [-Cq] off len -- discards a number of bytes at a specified offset";
  private static final String AIO_READ_USAGE =
      "aio_read [-Ciqv] [-P pattern] off len [len..] -- asynchronously reads a number of bytes";
  private static final String AIO_WRITE_USAGE =
      "aio_write [-Cfiquz] [-P pattern] off len [len..] -- asynchronously writes a number of bytes";

  private final QemuIoSession session;
  private final QemuIoControl control;
  private final PrintWriter out;
  private final PrintWriter err;

  /** {@code flushStdout}: fflush(stdout), what sigraise and abort do before the signal. */
  QemuIoShell(QemuIoSession session, PrintWriter out, PrintWriter err, Runnable flushStdout) {
    this.session = session;
    this.control = new QemuIoControl(session, out, err, flushStdout);
    this.out = out;
    this.err = err;
  }

  private DiskFile disk() {
    return session.disk();
  }

  /** Runs one command line; 0 on success, a negative errno-like value on failure. */
  int execute(String commandLine) {
    List<String> words = breakLine(commandLine);
    if (words.isEmpty()) {
      return 0;
    }
    String name = words.getFirst();
    QemuIoTable.Command command = QemuIoTable.find(name);
    int result;
    if (command == null) {
      out.flush();
      err.println("command \"" + name + "\" not found");
      result = EINVAL;
    } else {
      result = checked(command, name, words.subList(1, words.size()));
    }
    out.flush();
    err.flush();
    return result;
  }

  /** qemu-io's command(): an image open unless the command runs without one, the argument count, permissions. */
  private int checked(QemuIoTable.Command command, String name, List<String> args) {
    if (!command.has(QemuIoTable.GLOBAL) && !command.has(QemuIoTable.NO_FILE_OK) && disk() == null) {
      out.flush();
      err.println("no file open, try 'help open'");
      return EINVAL;
    }
    if (!checkCount(name, args, command.argMin(), command.argMax())) {
      return EINVAL;
    }
    if (command.has(QemuIoTable.NEEDS_WRITE) && !writable()) {
      return EPERM;
    }
    return switch (command.name()) {
      case "read" -> read(args);
      case "readv" -> readv("readv", args);
      case "aio_read" -> aio(() -> aioRead(args));
      // a write's writethrough flush is part of its request (QEMU's FUA emulation), a discard's is not
      case "write" -> write(args);
      case "writev" -> writev(args);
      case "aio_write" -> aio(() -> aioWrite(args));
      case "discard" -> afterWrite(discard(args));
      case "length" -> length();
      case "map" -> map();
      case "flush" -> flush();
      case "aio_flush" -> {
        session.requests().drain();
        yield 0;
      }
      default -> control.run(command, name, args);
    };
  }

  /**
   * An aio request: run here, or, once a breakpoint is set, on a thread of its own that this
   * command waits for only until it is done or held (at a breakpoint, or behind another request).
   */
  private int aio(java.util.function.IntSupplier request) {
    QemuIoRequests requests = session.requests();
    if (!requests.active()) {
      return request.getAsInt();
    }
    int[] result = new int[1];
    Thread thread = requests.submit(() -> {
      result[0] = request.getAsInt();
      out.flush();
    });
    // a request refused before it started (its arguments) fails the command, as in qemu-io
    return thread.isAlive() ? 0 : result[0];
  }

  /** A discard's result, made durable first in writethrough mode. */
  private int afterWrite(int result) {
    if (result < 0) {
      return result;
    }
    try {
      session.afterWrite();
      return result;
    } catch (IOException e) {
      out.println("flush failed: " + requestFailure(e));
      return EIO;
    }
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

  boolean checkCount(String name, List<String> args, int min, int max) {
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
    Getopt options = Getopt.ofWords("read", args, "bCl:pP:qs:vE");
    boolean vmState = false;
    boolean parsable = false;
    boolean quiet = false;
    boolean verbose = false;
    boolean patternGiven = false;
    boolean lengthGiven = false;
    boolean offsetGiven = false;
    int pattern = 0;
    long patternOffset = 0;
    long patternCount = 0;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'b' -> vmState = true;
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
    if (vmState && (offset % 512 != 0 || count % 512 != 0)) {
      return vmStateRefused(offset, count);
    }
    DiskFile source = vmState ? new VmStateDisk(disk()) : disk();
    RangeReader.Pattern check = patternGiven ? new RangeReader.Pattern((byte) pattern, patternOffset, patternCount) : null;
    StringBuilder dump = verbose && !quiet ? new StringBuilder() : null;
    boolean matched;
    long started = System.nanoTime();
    try {
      matched = RangeReader.readAndCheck(source, offset, count, check, (chunkOffset, buffer, length) -> {
        if (dump != null) {
          dumpBuffer(dump, buffer, length, chunkOffset, offset);
        }
      });
      if (!vmState) {
        session.afterRead(offset, count);
      }
    } catch (io.qcow4j.disk.UnsupportedFeatureException e) {
      out.println("read failed: Operation not supported");
      return -95;
    } catch (EOFException e) {
      out.println("read failed: Input/output error");
      return EIO;
    } catch (IOException e) {
      out.println("read failed: " + requestFailure(e));
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

  /** read/write -b: the VM state area is read and written in whole sectors (qemu-io's check). */
  private int vmStateRefused(long offset, long count) {
    if (offset % 512 != 0) {
      out.println(offset + " is not a sector-aligned value for 'offset'");
      return EINVAL;
    }
    out.println(count + " is not a sector-aligned value for 'count'");
    return EINVAL;
  }

  /** qemu-io asks for write permission before a writing command; a read-only image refuses it. */
  private boolean writable() {
    if (!disk().isReadOnly()) {
      return true;
    }
    out.flush();
    err.println(QemuErrors.PREFIX + "Block node is read-only");
    return false;
  }

  private int write(List<String> args) {
    Getopt options = Getopt.ofWords("write", args, "bcCfnpP:qs:uz");
    boolean vmState = false;
    boolean parsable = false;
    boolean quiet = false;
    boolean compressed = false;
    boolean fua = false;
    boolean noFallback = false;
    boolean unmap = false;
    boolean zeroes = false;
    boolean patternGiven = false;
    String sourceFile = null;
    int pattern = 0xcd;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'b' -> vmState = true;
        case 'c' -> compressed = true;
        case 'C' -> parsable = true;
        case 'f' -> fua = true;
        case 'n' -> noFallback = true;
        case 'p' -> { }
        case 'P' -> {
          patternGiven = true;
          pattern = parsePattern(option.argument());
          if (pattern < 0) {
            return EINVAL;
          }
        }
        case 'q' -> quiet = true;
        case 's' -> sourceFile = option.argument();
        case 'u' -> unmap = true;
        case 'z' -> zeroes = true;
        default -> {
          return badOption("write", option, WRITE_USAGE);
        }
      }
    }
    List<String> operands = options.operands();
    if (operands.size() != 2) {
      out.println(WRITE_USAGE);
      return EINVAL;
    }
    if (vmState && zeroes) {
      out.println("-b and -z cannot be specified at the same time");
      return EINVAL;
    }
    if (fua && (vmState || compressed)) {
      out.println("-f and -b or -c cannot be specified at the same time");
      return EINVAL;
    }
    if (noFallback && !zeroes) {
      out.println("-n requires -z to be specified");
      return EINVAL;
    }
    if (unmap && !zeroes) {
      out.println("-u requires -z to be specified");
      return EINVAL;
    }
    if ((zeroes ? 1 : 0) + (patternGiven ? 1 : 0) + (sourceFile != null ? 1 : 0) > 1) {
      out.println("Only one of -z, -P, and -s can be specified at the same time");
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
    if (count > MAX_REQUEST_BYTES && !noFallback) {
      out.println("length cannot exceed " + MAX_REQUEST_BYTES + " without -n, given " + operands.get(1));
      return EINVAL;
    }
    if (vmState || compressed) {
      if (offset % 512 != 0) {
        out.println(offset + " is not a sector-aligned value for 'offset'");
        return EINVAL;
      }
      if (count % 512 != 0) {
        out.println(count + " is not a sector-aligned value for 'count'");
        return EINVAL;
      }
    }
    ImageWrites.Content content = ImageWrites.Content.pattern(pattern);
    if (!zeroes && sourceFile != null) {
      byte[] source = readSourceFile(sourceFile, count);
      if (source == null) {
        return EINVAL;
      }
      content = ImageWrites.Content.repeating(source);
    }
    long started = System.nanoTime();
    try {
      if (vmState) {
        ImageWrites.write(new VmStateDisk(disk()), offset, count, content, false);
      } else if (zeroes) {
        ImageWrites.writeZeroes(disk(), offset, count, unmap && session.flags().unmap(), noFallback, fua);
      } else if (compressed) {
        ImageWrites.writeCompressed(disk(), offset, count, content);
      } else {
        ImageWrites.write(disk(), offset, count, content, fua);
      }
      session.afterWrite();
    } catch (ImageWrites.RequestException e) {
      out.println("write failed: " + e.errno().text());
      return e.errno().code();
    } catch (io.qcow4j.disk.UnsupportedFeatureException e) {
      out.println("write failed: " + (vmState ? "Operation not supported" : requestFailure(e)));
      return vmState ? -95 : EIO;
    } catch (IOException | RuntimeException e) {
      out.println("write failed: " + requestFailure(e));
      return EIO;
    }
    if (!quiet) {
      printReport("wrote", Math.max(1, System.nanoTime() - started), offset, count, count, 1, parsable);
    }
    return 0;
  }

  /** qemu_io_alloc_from_file: the file's first bytes (at most {@code count}), or null after perror's line. */
  private byte[] readSourceFile(String name, long count) {
    try (java.io.InputStream in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(name))) {
      byte[] source = in.readNBytes((int) Math.min(count, MAX_REQUEST_BYTES));
      if (source.length == 0) {
        out.flush();
        err.println(name + ": file is empty");
        return null;
      }
      return source;
    } catch (IOException e) {
      out.flush();
      err.println(name + ": " + Failures.reason(e, name));
      return null;
    }
  }

  private int readv(String name, List<String> args) {
    return vectoredRead(name, args, false);
  }

  /**
   * aio_read: a vectored read whose outcome (a failure, a pattern mismatch) is printed but, the
   * request being submitted, never fails the command. qcow4j completes it before the next
   * command, where qemu-io completes it by the next aio_flush or synchronous request.
   */
  private int aioRead(List<String> args) {
    return vectoredRead("aio_read", args, true);
  }

  /** readv, or aio_read when {@code aio}: the same options (aio_read adds -i) and output. */
  private int vectoredRead(String name, List<String> args, boolean aio) {
    String usage = aio ? AIO_READ_USAGE : READV_USAGE;
    Getopt options = Getopt.ofWords(name, args, aio ? "CP:iqv" : "CP:qv");
    boolean parsable = false;
    boolean quiet = false;
    boolean verbose = false;
    boolean patternGiven = false;
    int pattern = 0;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'C' -> parsable = true;
        case 'q' -> quiet = true;
        case 'v' -> verbose = true;
        case 'i' -> {
          // only aio_read's option string has it
          out.println("injecting invalid read request");
          return 0;
        }
        case 'P' -> {
          patternGiven = true;
          pattern = parsePattern(option.argument());
          if (pattern < 0) {
            return EINVAL;
          }
        }
        default -> {
          return badOption(aio ? "aio_read" : "readv", option, usage);
        }
      }
    }
    List<String> operands = options.operands();
    if (operands.size() < 2) {
      out.println(usage);
      return EINVAL;
    }
    long offset = number(operands.get(0));
    if (offset < 0) {
      return (int) offset;
    }
    long total = vectorLength(operands.subList(1, operands.size()));
    if (total < 0) {
      return EINVAL;
    }
    RangeReader.Pattern check = patternGiven ? new RangeReader.Pattern((byte) pattern, 0, total) : null;
    StringBuilder dump = verbose && !quiet ? new StringBuilder() : null;
    boolean matched;
    long started = System.nanoTime();
    try {
      matched = RangeReader.readAndCheck(disk(), offset, total, check, (chunkOffset, buffer, length) -> {
        if (dump != null) {
          dumpBuffer(dump, buffer, length, chunkOffset, offset);
        }
      });
      session.afterRead(offset, total);
    } catch (EOFException e) {
      out.println("readv failed: Input/output error");
      return aio ? 0 : EIO;
    } catch (IOException e) {
      out.println("readv failed: " + requestFailure(e));
      return aio ? 0 : EIO;
    }
    long elapsedNanos = Math.max(1, System.nanoTime() - started);
    int result = 0;
    if (!matched) {
      out.println("Pattern verification failed at offset " + offset + ", " + total + " bytes");
      result = aio ? 0 : EINVAL;
    }
    if (quiet) {
      return result;
    }
    if (dump != null) {
      out.print(dump);
    }
    printReport("read", elapsedNanos, offset, total, total, 1, parsable);
    return result;
  }

  private int writev(List<String> args) {
    return vectoredWrite(args, false);
  }

  /**
   * aio_write: a vectored write (or, with -z, a write of zeroes) whose failure is printed but,
   * the request being submitted, never fails the command; completed before the next command.
   */
  private int aioWrite(List<String> args) {
    return vectoredWrite(args, true);
  }

  /** writev, or aio_write when {@code aio}: the same options (aio_write adds -i, -u and -z) and output. */
  private int vectoredWrite(List<String> args, boolean aio) {
    String name = aio ? "aio_write" : "writev";
    String usage = aio ? AIO_WRITE_USAGE : WRITEV_USAGE;
    Getopt options = Getopt.ofWords(name, args, aio ? "CfiqP:uz" : "CfP:q");
    boolean parsable = false;
    boolean quiet = false;
    boolean fua = false;
    boolean unmap = false;
    boolean zeroes = false;
    int pattern = 0xcd;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'C' -> parsable = true;
        case 'f' -> fua = true;
        case 'q' -> quiet = true;
        // -u, -z and -i: only aio_write's option string has them
        case 'u' -> unmap = true;
        case 'z' -> zeroes = true;
        case 'i' -> {
          out.println("injecting invalid write request");
          return 0;
        }
        case 'P' -> {
          pattern = parsePattern(option.argument());
          if (pattern < 0) {
            return EINVAL;
          }
        }
        default -> {
          return badOption(name, option, usage);
        }
      }
    }
    List<String> operands = options.operands();
    if (operands.size() < 2) {
      out.println(usage);
      return EINVAL;
    }
    if (zeroes && operands.size() != 2) {
      out.println("-z supports only a single length parameter");
      return EINVAL;
    }
    if (unmap && !zeroes) {
      out.println("-u requires -z to be specified");
      return EINVAL;
    }
    long offset = number(operands.get(0));
    if (offset < 0) {
      return (int) offset;
    }
    long total = zeroes ? number(operands.get(1)) : vectorLength(operands.subList(1, operands.size()));
    if (total < 0) {
      return zeroes ? (int) total : EINVAL;
    }
    long started = System.nanoTime();
    try {
      if (zeroes) {
        ImageWrites.writeZeroes(disk(), offset, total, unmap && session.flags().unmap(), false, fua);
      } else {
        ImageWrites.write(disk(), offset, total, ImageWrites.Content.pattern(pattern), fua);
      }
      session.afterWrite();
    } catch (ImageWrites.RequestException e) {
      out.println(name + " failed: " + e.errno().text());
      return aio ? 0 : e.errno().code();
    } catch (IOException | RuntimeException e) {
      out.println(name + " failed: " + requestFailure(e));
      return aio ? 0 : EIO;
    }
    if (!quiet) {
      printReport("wrote", Math.max(1, System.nanoTime() - started), offset, total, total, 1, parsable);
    }
    return 0;
  }

  /** create_iovec's lengths: each a size up to the request limit, and their sum too; -1 after its message. */
  private long vectorLength(List<String> lengths) {
    long total = 0;
    for (String text : lengths) {
      long length = number(text);
      if (length < 0) {
        return -1;
      }
      if (length > MAX_REQUEST_BYTES) {
        out.println("Argument '" + text + "' exceeds maximum size " + MAX_REQUEST_BYTES);
        return -1;
      }
      if (total > MAX_REQUEST_BYTES - length) {
        out.println("The total number of bytes exceed the maximum size " + MAX_REQUEST_BYTES);
        return -1;
      }
      total += length;
    }
    return total;
  }

  private int discard(List<String> args) {
    Getopt options = Getopt.ofWords("discard", args, "Cq");
    boolean parsable = false;
    boolean quiet = false;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'C' -> parsable = true;
        case 'q' -> quiet = true;
        default -> {
          return badOption("discard", option, DISCARD_USAGE);
        }
      }
    }
    List<String> operands = options.operands();
    if (operands.size() != 2) {
      out.println(DISCARD_USAGE);
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
    long started = System.nanoTime();
    try {
      if (session.flags().unmap()) {
        ImageWrites.discard(disk(), offset, count);
      } else if (offset > disk().size() || count > disk().size() - offset) {
        // without unmap the request is still checked against the disk, then does nothing
        out.println("discard failed: Input/output error");
        return EIO;
      }
    } catch (ImageWrites.RequestException e) {
      out.println("discard failed: " + e.errno().text());
      return e.errno().code();
    } catch (IOException | RuntimeException e) {
      out.println("discard failed: " + requestFailure(e));
      return EIO;
    }
    if (!quiet) {
      printReport("discard", Math.max(1, System.nanoTime() - started), offset, count, count, 1, parsable);
    }
    return 0;
  }

  private int flush() {
    try {
      session.flushImage();
      return 0;
    } catch (IOException e) {
      return EIO;
    }
  }

  /**
   * Why a read failed, as strerror names the errno QEMU's block layer returns: a corrupt image is
   * EIO ("Input/output error") there, whatever qcow4j found; anything else as qcow4j says it.
   * (A refused write keeps qcow4j's one line naming the structure, where QEMU prints two.)
   */
  /**
   * Why a request failed, as qemu-io prints it: a corruption is EIO, and the one that marked the
   * image corrupt is announced first on stderr, as QEMU's qcow2_signal_corruption does.
   */
  private String requestFailure(Exception failure) {
    if (failure instanceof io.qcow4j.disk.CorruptImageException corrupt) {
      Failures.announceCorruption(corrupt, err);
      return "Input/output error";
    }
    return Failures.reason(failure, null);
  }

  /** The message of a bad option (to stderr) and the command's usage (to stdout), as qemu-io prints them. */
  private int badOption(String command, Getopt.Option option, String usage) {
    if (option.letter() == Getopt.MISSING_ARGUMENT) {
      err.println(command + ": option requires an argument -- '" + option.argument() + "'");
    } else {
      err.println(command + ": invalid option -- '" + option.argument() + "'");
    }
    out.println(usage);
    return EINVAL;
  }

  /** qemu-io's parse_pattern: a C integer 0..255, else its message and -1. */
  private int parsePattern(String text) {
    Long value = QemuNumbers.parseCInteger(text);
    if (value == null || value < 0 || value > 255) {
      out.println(text + " is not a valid pattern byte");
      return -1;
    }
    return value.intValue();
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
      // one print: requests on threads of their own report whole
      out.print(operation + " " + total + "/" + count + " bytes at offset " + offset + "\n"
          + QemuNumbers.ioSize(total) + ", " + ops + " ops; " + time(elapsedNanos, false) + " ("
          + QemuNumbers.ioSize(total / seconds) + "/sec and " + QemuNumbers.fixed(ops / seconds, 4) + " ops/sec)\n");
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
      out.println(QemuNumbers.ioSize(disk().size()));
      return 0;
    } catch (IOException e) {
      out.println("getlength: " + Failures.reason(e, null));
      return EIO;
    }
  }

  private int map() {
    try {
      disk().size();
    } catch (IOException e) {
      // map_f asks the length first
      out.flush();
      err.println(QemuErrors.PREFIX + "Failed to query image length: " + Failures.reason(e, null));
      return EIO;
    }
    try {
      ImageMap.topLayerRuns(disk(), (start, length, allocated) ->
          out.println(QemuNumbers.ioSize(length) + " (0x" + Long.toHexString(length) + ") bytes "
              + (allocated ? "    allocated" : "not allocated") + " at offset " + QemuNumbers.ioSize(start)
              + " (0x" + Long.toHexString(start) + ")"));
      return 0;
    } catch (IOException e) {
      out.flush();
      err.println(QemuErrors.PREFIX + "Failed to get allocation status: " + requestFailure(e));
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
