package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.storage.DebugBreakpoints;
import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.io.PrintWriter;
import java.util.List;

/**
 * The qemu-io commands that are not data requests: help, quit, open, close, reopen, info, alloc,
 * truncate, sleep, sigraise, abort and the blkdebug breakpoints, with qemu-io's options, messages
 * and return values (0, or a negative errno).
 */
final class QemuIoControl {
  private static final int EIO = -5;
  private static final int EINVAL = -22;
  private static final int ENOTSUP = -95;
  private static final int ENOENT = -2;

  private final QemuIoSession session;
  private final PrintWriter out;
  private final PrintWriter err;
  private final Runnable flushStdout;

  QemuIoControl(QemuIoSession session, PrintWriter out, PrintWriter err, Runnable flushStdout) {
    this.session = session;
    this.out = out;
    this.err = err;
    this.flushStdout = flushStdout;
  }

  /** Runs {@code command}, typed as {@code name}, whose argument count has been checked. */
  int run(QemuIoTable.Command command, String name, List<String> args) {
    return switch (command.name()) {
      case "help" -> help(args);
      case "quit" -> {
        session.quit();
        yield 0;
      }
      case "open" -> open(name, args);
      case "close" -> {
        session.closeImage();
        yield 0;
      }
      case "reopen" -> reopen(name, args);
      case "info" -> info();
      case "alloc" -> alloc(args);
      case "truncate" -> truncate(name, args);
      case "sleep" -> sleep(args.getFirst());
      case "sigraise" -> sigraise(args.getFirst());
      case "abort" -> abort();
      case "break" -> setBreakpoint(args.get(0), args.get(1));
      case "remove_break" -> removeBreakpoint(args.getFirst());
      case "resume" -> resume(args.getFirst());
      case "wait_break" -> waitBreak(args.getFirst());
      default -> throw new IllegalStateException("qemu-io command without a handler: " + command.name());
    };
  }

  /**
   * The breakpoints of the image's blkdebug node, telling suspensions and resumptions on stdout as
   * blkdebug prints them; null when the image has no blkdebug node.
   */
  private DebugBreakpoints breakpoints() {
    DebugBreakpoints breakpoints = session.disk().debugBreakpoints();
    if (breakpoints != null) {
      breakpoints.setListener(new DebugBreakpoints.Listener() {
        @Override
        public void suspended(String tag) {
          out.println("blkdebug: Suspended request '" + tag + "'");
        }

        @Override
        public void resuming(String tag) {
          out.println("blkdebug: Resuming request '" + tag + "'");
        }
      });
    }
    return breakpoints;
  }

  /** break EVENT TAG. */
  private int setBreakpoint(String event, String tag) {
    DebugBreakpoints breakpoints = breakpoints();
    if (breakpoints == null) {
      out.println("Could not set breakpoint: Operation not supported");
      return ENOTSUP;
    }
    if (!breakpoints.setBreakpoint(event, tag)) {
      out.println("Could not set breakpoint: No such file or directory");
      return ENOENT;
    }
    session.requests().activate();
    return 0;
  }

  /** remove_break TAG: its breakpoints gone, its suspended requests resumed. */
  private int removeBreakpoint(String tag) {
    DebugBreakpoints breakpoints = breakpoints();
    if (breakpoints == null) {
      out.println("Could not remove breakpoint " + tag + ": Operation not supported");
      return ENOTSUP;
    }
    boolean found = breakpoints.removeBreakpoint(tag);
    if (!found) {
      out.println("Could not remove breakpoint " + tag + ": No such file or directory");
    }
    // the resumed requests' completions come after the command's own message, as qemu-io's
    // come at its next poll
    session.requests().settle();
    return found ? 0 : ENOENT;
  }

  /** resume TAG: the request goes on until it is done or held again. */
  private int resume(String tag) {
    DebugBreakpoints breakpoints = breakpoints();
    if (breakpoints == null) {
      out.println("Could not resume request: Operation not supported");
      return ENOTSUP;
    }
    if (!breakpoints.resume(tag)) {
      out.println("Could not resume request: No such file or directory");
      return ENOENT;
    }
    session.requests().settle();
    return 0;
  }

  /** wait_break TAG: until a request is suspended under the tag. */
  private int waitBreak(String tag) {
    DebugBreakpoints breakpoints = breakpoints();
    if (breakpoints == null) {
      // no request is ever suspended without blkdebug: qemu-io would wait forever
      return ENOTSUP;
    }
    session.requests().awaitCondition(() -> breakpoints.isSuspended(tag));
    return 0;
  }

  private int help(List<String> args) {
    if (args.isEmpty()) {
      QemuIoTable.printAll(out);
      return 0;
    }
    QemuIoTable.Command command = QemuIoTable.find(args.getFirst());
    if (command == null) {
      out.println("command " + args.getFirst() + " not found");
      return EINVAL;
    }
    QemuIoTable.printOne(out, args.getFirst(), command);
    return 0;
  }

  /** open [-rsCnkU] [-t cache] [-d discard] [-o options] [path]. */
  private int open(String name, List<String> args) {
    Getopt options = Getopt.ofWords(name, args, "snCro:ki:t:d:U");
    boolean readOnly = false;
    boolean snapshot = false;
    boolean forceShare = false;
    boolean unmap = true;
    boolean copyOnRead = false;
    CacheMode.Setting cache = CacheMode.Setting.WRITETHROUGH;
    StringBuilder driverOptions = null;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 's' -> snapshot = true;
        case 'n' -> cache = new CacheMode.Setting(true, cache.noFlush(), false);
        case 'C' -> copyOnRead = true;
        case 'r' -> readOnly = true;
        case 'k' -> { }
        case 't' -> {
          cache = CacheMode.setting(option.argument());
          if (cache == null) {
            error("Invalid cache option: " + option.argument());
            return EINVAL;
          }
        }
        case 'd' -> {
          if (!List.of("ignore", "off", "unmap", "on").contains(option.argument())) {
            error("Invalid discard option: " + option.argument());
            return EINVAL;
          }
          unmap = List.of("unmap", "on").contains(option.argument());
        }
        case 'i' -> {
          if (!List.of("threads", "native", "io_uring").contains(option.argument())) {
            error("Invalid aio option: " + option.argument());
            return EINVAL;
          }
        }
        case 'o' -> {
          if (session.imageOpts()) {
            out.println("--image-opts and 'open -o' are mutually exclusive");
            return EINVAL;
          }
          // repeated -o merge into one option list, as QemuOpts' merge_lists does
          driverOptions = driverOptions == null ? new StringBuilder(option.argument())
              : driverOptions.append(',').append(option.argument());
        }
        case 'U' -> forceShare = true;
        default -> {
          badOption(name, option);
          out.println(QemuIoTable.usage(QemuIoTable.find("open")));
          return EINVAL;
        }
      }
    }
    List<String> operands = options.operands();
    String optionString = driverOptions == null ? null : driverOptions.toString();
    String path = null;
    if (session.imageOpts() && operands.size() == 1) {
      optionString = operands.getFirst();
    } else if (operands.size() == 1) {
      path = operands.getFirst();
    } else if (!operands.isEmpty()) {
      out.println(QemuIoTable.usage(QemuIoTable.find("open")));
      return EINVAL;
    }
    if (path == null && optionString == null) {
      error("can't open: Must specify either driver or file");
      return EINVAL;
    }
    QemuIoSession.Flags flags = new QemuIoSession.Flags(readOnly, snapshot, forceShare, cache, unmap, copyOnRead);
    return session.open(path, optionString, null, flags) == 0 ? 0 : EINVAL;
  }

  /** reopen [(-r|-w)] [-c cache] [-o options]. */
  private int reopen(String name, List<String> args) {
    Getopt options = Getopt.ofWords(name, args, "c:o:rw");
    QemuIoSession.Flags flags = session.flags();
    boolean rwGiven = false;
    boolean cacheGiven = false;
    StringBuilder driverOptions = null;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      switch (option.letter()) {
        case 'c' -> {
          CacheMode.Setting cache = CacheMode.setting(option.argument());
          if (cache == null) {
            error("Invalid cache option: " + option.argument());
            return EINVAL;
          }
          flags = flags.withCache(cache);
          cacheGiven = true;
        }
        case 'o' -> driverOptions = driverOptions == null ? new StringBuilder(option.argument())
            : driverOptions.append(',').append(option.argument());
        case 'r', 'w' -> {
          if (rwGiven) {
            error("Only one -r/-w option may be given");
            return EINVAL;
          }
          flags = flags.withReadOnly(option.letter() == 'r');
          rwGiven = true;
        }
        default -> {
          badOption(name, option);
          out.println(QemuIoTable.usage(QemuIoTable.find("reopen")));
          return EINVAL;
        }
      }
    }
    if (!options.operands().isEmpty()) {
      out.println(QemuIoTable.usage(QemuIoTable.find("reopen")));
      return EINVAL;
    }
    String optionString = driverOptions == null ? null : driverOptions.toString();
    if (optionString != null) {
      String readOnlyValue = null;
      for (var element : io.qcow4j.options.OptionSyntax.elements(optionString)) {
        switch (element.name()) {
          case "read-only" -> readOnlyValue = element.value();
          case "cache.direct", "cache.no-flush" -> {
            if (cacheGiven) {
              error("Cannot set both -c and the cache options");
              return EINVAL;
            }
          }
          default -> { }
        }
      }
      if (readOnlyValue != null) {
        if (rwGiven) {
          error("Cannot set both -r/-w and 'read-only'");
          return EINVAL;
        }
        if (!readOnlyValue.equals("on") && !readOnlyValue.equals("off")) {
          error("Parameter 'read-only' expects 'on' or 'off'");
          return EINVAL;
        }
        if (readOnlyValue.equals("off")) {
          flags = flags.withReadOnly(false);
        }
        // read-only=on: QEMU 7.2 makes the node read-only but its user keeps writing through it
        // (a later "reopen -r" then fails); qcow4j leaves the image writable as the user sees it
      }
    }
    return session.reopen(flags, optionString);
  }

  /** The drivers QEMU gives no bdrv_get_info (null-co, null-aio, blkdebug), when at the top. */
  private static final java.util.Set<String> NO_DRIVER_INFO = java.util.Set.of("null-co", "null-aio", "blkdebug");

  /** info: the format, cluster size, VM state offset and the format-specific block, as qemu-io prints them. */
  private int info() {
    DiskFile disk = session.disk();
    if (io.qcow4j.spec.ImageSpec.isProtocolDriver(disk.driverName())) {
      // qemu-io prints the driver's format_name, then its protocol_name: a protocol's name twice
      out.println("format name: " + disk.driverName());
    }
    if (NO_DRIVER_INFO.contains(disk.driverName()) || !disk.hasDriverInfo()) {
      // drivers without bdrv_get_info: qemu-io prints the name and returns ENOTSUP without a message;
      // QEMU's nbd drivers share the format name "nbd", and looked up by it the last registered
      // (protocol name nbd+unix) answers, whatever the server's address
      out.println("format name: " + (disk.driverName().equals("nbd") ? "nbd+unix" : disk.driverName()));
      return ENOTSUP;
    }
    ImageInfo info;
    try {
      info = disk.info();
    } catch (IOException e) {
      // bdrv_get_info failed: qemu-io prints the name and returns the error without a message
      out.println("format name: " + disk.driverName());
      return EIO;
    }
    out.println("format name: " + disk.driverName());
    long clusterSize = info.clusterSize();
    long vmStateOffset = 0;
    if (info.qcow2() != null) {
      // qcow2_vm_state_offset: the guest offset of the first L1 entry past the disk's size
      int clusterBits = Long.numberOfTrailingZeros(clusterSize);
      int l2Bits = clusterBits - (info.qcow2().extendedL2() ? 4 : 3);
      long l1Span = 1L << (clusterBits + l2Bits);
      vmStateOffset = ((info.virtualSize() + l1Span - 1) / l1Span) * l1Span;
    }
    out.println("cluster size: " + QemuNumbers.ioSize(clusterSize));
    out.println("vm state offset: " + QemuNumbers.ioSize(vmStateOffset));
    StringBuilder text = new StringBuilder();
    if (info.qcow2() != null) {
      InfoCommand.qcow2Specific(info.qcow2()).dumpHuman(text.append("Format specific information:\n"), 1);
    } else if (info.vmdk() != null) {
      InfoCommand.vmdkSpecific(info.vmdk()).dumpHuman(text.append("Format specific information:\n"), 1);
    }
    out.print(text);
    return 0;
  }

  /** alloc offset [count]: how many bytes of the range the top layer itself allocates. */
  private int alloc(List<String> args) {
    long start = number(args.get(0));
    if (start < 0) {
      return (int) start;
    }
    long count = 512;
    if (args.size() == 2) {
      count = number(args.get(1));
      if (count < 0) {
        return (int) count;
      }
    }
    DiskFile disk = session.disk();
    long offset = start;
    long remaining = count;
    long allocated = 0;
    try {
      long size = disk.size();
      while (remaining > 0) {
        long num = 0;
        boolean isAllocated = false;
        if (offset < size) {
          Extent extent = disk.blockStatus(offset, Math.min(remaining, size - offset));
          num = Math.min(extent.length(), remaining);
          isAllocated = extent.depth() == 0 && extent.present();
        }
        if (num <= 0) {
          // the image ends inside the range: the count stops there
          count -= remaining;
          break;
        }
        offset += num;
        remaining -= num;
        if (isAllocated) {
          allocated += num;
        }
      }
    } catch (IOException e) {
      out.println("is_allocated failed: " + Failures.reason(e, null));
      return EIO;
    }
    out.println(allocated + "/" + count + " bytes allocated at offset " + QemuNumbers.ioSize(start));
    return 0;
  }

  /** truncate [-m prealloc_mode] off. */
  private int truncate(String name, List<String> args) {
    Getopt options = Getopt.ofWords(name, args, "m:");
    Preallocation preallocation = Preallocation.OFF;
    for (Getopt.Option option = options.nextOption(); option != null; option = options.nextOption()) {
      if (option.letter() == 'm') {
        preallocation = Preallocation.fromName(option.argument());
        if (preallocation == null) {
          error("Invalid preallocation mode '" + option.argument() + "'");
          return EINVAL;
        }
      } else {
        badOption(name, option);
        out.println(QemuIoTable.usage(QemuIoTable.find("truncate")));
        return EINVAL;
      }
    }
    if (options.operands().isEmpty()) {
      out.println(QemuIoTable.usage(QemuIoTable.find("truncate")));
      return EINVAL;
    }
    long size = number(options.operands().getFirst());
    if (size < 0) {
      return (int) size;
    }
    DiskFile disk = session.disk();
    try {
      long current = disk.size();
      if (preallocation == Preallocation.METADATA && disk.format() != ImageFormat.QCOW2) {
        error("Unsupported preallocation mode: metadata");
        return ENOTSUP;
      }
      disk.resize(size);
      if (size > current) {
        io.qcow4j.ops.ImageResize.preallocate(disk, current, size - current, preallocation);
      }
      session.afterWrite();
      return 0;
    } catch (IOException | RuntimeException e) {
      error(Failures.reason(e, null));
      return EINVAL;
    }
  }

  /** sleep MS: waits, or refuses what strtol does not read whole. */
  private int sleep(String text) {
    Long millis = QemuNumbers.parseCInteger(text);
    if (millis == null || millis < 0) {
      out.println(text + " is not a valid number");
      return EINVAL;
    }
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }

  /**
   * sigraise SIGNAL: the process dies of the signal, as raise(3) makes it (the streams flushed
   * first): kill(2) through the shell's kill, on our own process id.
   */
  private int sigraise(String text) {
    long signal = number(text);
    if (signal < 0) {
      return (int) signal;
    }
    if (signal > 65) {
      out.println("signal argument '" + text + "' is too large to be a valid signal");
      return EINVAL;
    }
    flushStdout.run();
    err.flush();
    if (signal == 0) {
      return 0;
    }
    raise((int) signal);
    return 0;
  }

  /**
   * abort: dies of SIGABRT without closing the image, as a crash would; like abort(3), without
   * flushing stdout (what qemu-io printed into its buffer is lost).
   */
  private int abort() {
    err.flush();
    raise(6);
    return 0;
  }

  /**
   * Sends {@code signal} to this process with kill(2) and waits for it to end the process; a
   * signal the JVM handles (SIGTERM runs the shutdown and exits 143) ends it its own way.
   */
  private static void raise(int signal) {
    try {
      Linker linker = Linker.nativeLinker();
      MethodHandle kill = linker.downcallHandle(linker.defaultLookup().findOrThrow("kill"),
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
      int result = (int) kill.invokeExact((int) ProcessHandle.current().pid(), signal);
      if (result == 0) {
        Thread.sleep(2000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable e) {
      // no native access: end as the shell reports a death by that signal
    }
    Runtime.getRuntime().halt(128 + signal);
  }

  private void badOption(String name, Getopt.Option option) {
    out.flush();
    if (option.letter() == Getopt.MISSING_ARGUMENT) {
      err.println(name + ": option requires an argument -- '" + option.argument() + "'");
    } else {
      err.println(name + ": invalid option -- '" + option.argument() + "'");
    }
    err.flush();
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

  private void error(String message) {
    out.flush();
    err.println(QemuErrors.PREFIX + message);
    err.flush();
  }
}
