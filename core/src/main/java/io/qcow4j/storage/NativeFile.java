package io.qcow4j.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * The Linux calls FileChannel lacks (fallocate, lseek with SEEK_DATA/SEEK_HOLE, preadv/pwritev, fcntl
 * with open file description locks),
 * through the FFM API on a descriptor of its own for the file. Absent where the platform has no
 * such calls.
 *
 * <p>Every call on the descriptor goes through a {@link DescriptorGuard}: {@link #close} waits for
 * the calls in flight and later calls fail with {@link ClosedStorageException}, so no call can land
 * on the descriptor number once the kernel may have given it to another file.
 */
final class NativeFile implements AutoCloseable {
  static final int KEEP_SIZE = 0x01;
  static final int PUNCH_HOLE = 0x02;
  static final int ZERO_RANGE = 0x10;

  private static final int O_RDONLY = 0;
  private static final int O_RDWR = 2;
  private static final int O_CLOEXEC = 0x80000;
  private static final int SEEK_DATA = 3;
  private static final int SEEK_HOLE = 4;
  private static final int EINTR = 4;
  private static final int EAGAIN = 11;
  private static final int EACCES = 13;
  private static final int F_OFD_GETLK = 36;
  private static final int F_OFD_SETLK = 37;
  private static final short F_RDLCK = 0;
  private static final short F_WRLCK = 1;
  private static final short F_UNLCK = 2;
  private static final Calls CALLS = Calls.load();

  /** struct iovec on 64-bit Linux: the address and length of one buffer of a preadv/pwritev. */
  static final StructLayout IOVEC = MemoryLayout.structLayout(
      ValueLayout.ADDRESS.withName("iov_base"), ValueLayout.JAVA_LONG.withName("iov_len"));

  private final int fd;
  private final String name;
  private final DescriptorGuard guard = new DescriptorGuard();

  private NativeFile(int fd, String name) {
    this.fd = fd;
    this.name = name;
  }

  /** The host path, for messages. */
  String name() {
    return name;
  }

  /** Opens a descriptor for {@code path}; empty where the calls cannot be reached. */
  static Optional<NativeFile> open(Path path, boolean readOnly) {
    if (CALLS == null) {
      return Optional.empty();
    }
    try (Arena arena = Arena.ofConfined()) {
      int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
      int fd = (int) CALLS.open.invokeExact(arena.allocateFrom(path.toString()), flags);
      return fd < 0 ? Optional.empty() : Optional.of(new NativeFile(fd, path.toString()));
    } catch (Throwable e) {
      return Optional.empty();
    }
  }

  /**
   * Calls fallocate(fd, mode, offset, length), again after EINTR; false when the file system
   * refuses the mode (or the call fails otherwise: the caller falls back to writing).
   */
  boolean fallocate(int mode, long offset, long length) throws ClosedStorageException {
    enter();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment errno = arena.allocate(Calls.ERRNO_STATE);
      while (true) {
        int result = (int) CALLS.fallocate.invokeExact(errno, fd, mode, offset, length);
        if (result == 0) {
          return true;
        }
        if (Calls.errno(errno) != EINTR) {
          return false;
        }
      }
    } catch (Throwable e) {
      return false;
    } finally {
      guard.leave();
    }
  }

  /** lseek(SEEK_DATA): the first data offset at or after {@code offset}, -1 if none or unknown. */
  long seekData(long offset) throws ClosedStorageException {
    return seek(offset, SEEK_DATA);
  }

  /** lseek(SEEK_HOLE): the first hole offset at or after {@code offset}, -1 if unknown. */
  long seekHole(long offset) throws ClosedStorageException {
    return seek(offset, SEEK_HOLE);
  }

  /** Whether {@link #preadv} and {@link #pwritev} can be called. */
  boolean hasVectoredCalls() {
    return CALLS.preadv != null && CALLS.pwritev != null;
  }

  /**
   * One preadv(fd, iovecs, count, offset), again after EINTR: the bytes read (0 at the end of the
   * file), possibly fewer than asked.
   */
  long preadv(MemorySegment iovecs, int count, long offset, Arena arena) throws IOException {
    return vectored(CALLS.preadv, "preadv", iovecs, count, offset, arena);
  }

  /** One pwritev(fd, iovecs, count, offset), again after EINTR: the bytes written, possibly fewer. */
  long pwritev(MemorySegment iovecs, int count, long offset, Arena arena) throws IOException {
    return vectored(CALLS.pwritev, "pwritev", iovecs, count, offset, arena);
  }

  private long vectored(MethodHandle call, String callName, MemorySegment iovecs, int count, long offset, Arena arena)
      throws IOException {
    MemorySegment errno = arena.allocate(Calls.ERRNO_STATE);
    enter();
    try {
      while (true) {
        long result = (long) call.invokeExact(errno, fd, iovecs, count, offset);
        if (result >= 0) {
          return result;
        }
        int code = Calls.errno(errno);
        if (code != EINTR) {
          throw new IOException(name + ": " + callName + " of " + count + " buffers at offset " + offset
              + " failed: " + Calls.describe(code));
        }
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IOException(name + ": " + callName + " at offset " + offset + " failed", e);
    } finally {
      guard.leave();
    }
  }

  /** Whether open file description locks can be taken on this platform. */
  boolean hasLocks() {
    return CALLS.fcntl != null;
  }

  /**
   * Takes a shared (read) lock on byte {@code offset} for this open file description; false when
   * another description holds a write lock there.
   */
  boolean lockShared(long offset) throws IOException {
    return lockCall(F_OFD_SETLK, F_RDLCK, offset) == F_RDLCK;
  }

  /** Releases this description's lock on byte {@code offset}. */
  void unlock(long offset) throws IOException {
    lockCall(F_OFD_SETLK, F_UNLCK, offset);
  }

  /**
   * Whether another open file description (of any process, this one included) holds a lock on
   * byte {@code offset}: the test QEMU makes, asking whether an exclusive lock could be taken.
   */
  boolean lockedByOthers(long offset) throws IOException {
    return lockCall(F_OFD_GETLK, F_WRLCK, offset) != F_UNLCK;
  }

  /**
   * fcntl(fd, cmd, &flock) on one byte. SETLK: the type asked for, or -1 when another description's
   * lock is in the way; GETLK: the type of a conflicting lock, F_UNLCK when there is none.
   */
  private short lockCall(int command, short type, long offset) throws IOException {
    enter();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment errno = arena.allocate(Calls.ERRNO_STATE);
      MemorySegment lock = arena.allocate(Calls.FLOCK);
      lock.set(ValueLayout.JAVA_SHORT, 0, type);
      lock.set(ValueLayout.JAVA_SHORT, 2, (short) 0); // SEEK_SET
      lock.set(ValueLayout.JAVA_LONG, 8, offset);
      lock.set(ValueLayout.JAVA_LONG, 16, 1L);
      lock.set(ValueLayout.JAVA_INT, 24, 0); // l_pid must be 0 for OFD locks
      while (true) {
        int result = (int) CALLS.fcntl.invokeExact(errno, fd, command, lock);
        if (result == 0) {
          return lock.get(ValueLayout.JAVA_SHORT, 0);
        }
        int code = Calls.errno(errno);
        if (command == F_OFD_SETLK && (code == EAGAIN || code == EACCES)) {
          return -1;
        }
        if (code != EINTR) {
          throw new IOException(name + ": fcntl(" + (command == F_OFD_GETLK ? "F_OFD_GETLK" : "F_OFD_SETLK")
              + ") on byte " + offset + " failed: " + Calls.describe(code));
        }
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IOException(name + ": fcntl on byte " + offset + " failed", e);
    } finally {
      guard.leave();
    }
  }

  /** st_blocks * 512 of the file at {@code path} (the bytes it occupies), or -1 when unknown. */
  static long allocatedBytes(Path path) {
    if (CALLS == null || CALLS.stat == null) {
      return -1;
    }
    try (Arena arena = Arena.ofConfined()) {
      // struct stat on x86_64 and aarch64 glibc is at most 144 bytes; st_blocks is a 64-bit field.
      var stat = arena.allocate(256, 8);
      int result = (int) CALLS.stat.invokeExact(arena.allocateFrom(path.toString()), stat);
      return result == 0 ? stat.get(ValueLayout.JAVA_LONG, CALLS.blocksOffset) * 512 : -1;
    } catch (Throwable e) {
      return -1;
    }
  }

  private long seek(long offset, int whence) throws ClosedStorageException {
    enter();
    try {
      return (long) CALLS.lseek.invokeExact(fd, offset, whence);
    } catch (Throwable e) {
      return -1;
    } finally {
      guard.leave();
    }
  }

  private void enter() throws ClosedStorageException {
    if (!guard.enter()) {
      throw new ClosedStorageException(name);
    }
  }

  /** Waits for the calls in flight, refuses later ones, then closes the descriptor (once). */
  @Override
  public void close() {
    if (!guard.close()) {
      return;
    }
    try {
      int ignored = (int) CALLS.close.invokeExact(fd);
    } catch (Throwable e) {
      // The descriptor is gone either way.
    }
  }

  private record Calls(
      MethodHandle open, MethodHandle fallocate, MethodHandle lseek, MethodHandle close,
      MethodHandle stat, long blocksOffset, MethodHandle preadv, MethodHandle pwritev, MethodHandle strerror,
      MethodHandle fcntl) {
    static final StructLayout ERRNO_STATE = Linker.Option.captureStateLayout();
    /** struct flock of 64-bit Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad). */
    static final MemoryLayout FLOCK = MemoryLayout.structLayout(
        ValueLayout.JAVA_SHORT.withName("l_type"), ValueLayout.JAVA_SHORT.withName("l_whence"),
        MemoryLayout.paddingLayout(4), ValueLayout.JAVA_LONG.withName("l_start"),
        ValueLayout.JAVA_LONG.withName("l_len"), ValueLayout.JAVA_INT.withName("l_pid"),
        MemoryLayout.paddingLayout(4));
    static final VarHandle ERRNO = ERRNO_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    static int errno(MemorySegment state) {
      return (int) ERRNO.get(state, 0L);
    }

    /** strerror's text for an errno value, and the value. */
    @SuppressWarnings("restricted")
    static String describe(int code) {
      String text = "";
      try {
        if (CALLS.strerror != null) {
          MemorySegment message = (MemorySegment) CALLS.strerror.invokeExact(code);
          text = message.reinterpret(256).getString(0) + " ";
        }
      } catch (Throwable e) {
        // The number alone then.
      }
      return text + "(errno " + code + ")";
    }

    @SuppressWarnings("restricted")
    static Calls load() {
      if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
        return null;
      }
      try {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        Linker.Option errno = Linker.Option.captureCallState("errno");
        MethodHandle open = linker.downcallHandle(libc.find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle fallocate = linker.downcallHandle(libc.find("fallocate").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), errno);
        MethodHandle lseek = linker.downcallHandle(libc.find("lseek").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                ValueLayout.JAVA_INT));
        MethodHandle close = linker.downcallHandle(libc.find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        MethodHandle stat = linker.downcallHandle(libc.find("stat").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        String arch = System.getProperty("os.arch", "");
        long blocksOffset = switch (arch) {
          case "amd64", "x86_64" -> 64;
          case "aarch64" -> 64;
          default -> -1;
        };
        // ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset): 64-bit only.
        boolean wide = ValueLayout.ADDRESS.byteSize() == 8;
        FunctionDescriptor vectored = FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG);
        MethodHandle preadv = wide ? linker.downcallHandle(libc.find("preadv").orElseThrow(), vectored, errno) : null;
        MethodHandle pwritev = wide ? linker.downcallHandle(libc.find("pwritev").orElseThrow(), vectored, errno) : null;
        MethodHandle strerror = libc.find("strerror")
            .map(symbol -> linker.downcallHandle(symbol,
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT)))
            .orElse(null);
        // int fcntl(int fd, int cmd, ...): the struct flock pointer is the first variadic argument.
        MethodHandle fcntl = wide ? linker.downcallHandle(libc.find("fcntl").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS), errno, Linker.Option.firstVariadicArg(2)) : null;
        return new Calls(open, fallocate, lseek, close, blocksOffset < 0 ? null : stat, blocksOffset,
            preadv, pwritev, strerror, fcntl);
      } catch (Throwable e) {
        return null;
      }
    }
  }
}
