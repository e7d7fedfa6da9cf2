package io.qcow4j.internal.storage;

import io.qcow4j.storage.ClosedStorageException;
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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
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
  private static final int AT_FDCWD = -100;
  private static final int SEEK_DATA = 3;
  private static final int SEEK_HOLE = 4;
  private static final int EINTR = 4;
  private static final int EAGAIN = 11;
  private static final int EACCES = 13;
  private static final int EBADF = 9;
  private static final int EXDEV = 18;
  private static final int EINVAL = 22;
  private static final int ENOSYS = 38;
  private static final int EOPNOTSUPP = 95;
  private static final int F_OFD_GETLK = 36;
  private static final int F_OFD_SETLK = 37;
  private static final short F_RDLCK = 0;
  private static final short F_WRLCK = 1;
  private static final short F_UNLCK = 2;

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
    if (Syscall.CALL == null) {
      return Optional.empty();
    }
    try (Arena arena = Arena.ofConfined()) {
      int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
      long fd = Syscall.call(arena.allocate(Libc.ERRNO_STATE), Syscall.NUMBERS.openat(), AT_FDCWD,
          cString(arena, path.toString()).address(), flags, 0, 0, 0);
      return fd < 0 ? Optional.empty() : Optional.of(new NativeFile((int) fd, path.toString()));
    } catch (Throwable e) {
      return Optional.empty();
    }
  }

  /**
   * Calls fallocate(fd, mode, offset, length), again after EINTR; false when the file system
   * refuses the mode (or the call fails otherwise: the caller falls back to writing).
   */
  boolean fallocate(int mode, long offset, long length) throws ClosedStorageException {
    if (Syscall.CALL == null) {
      return false;
    }
    enter();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment errno = arena.allocate(Libc.ERRNO_STATE);
      while (true) {
        long result = Syscall.call(errno, Syscall.NUMBERS.fallocate(), fd, mode, offset, length, 0, 0);
        if (result == 0) {
          return true;
        }
        if (Libc.errno(errno) != EINTR) {
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
    return Syscall.CALL != null;
  }

  /**
   * One preadv(fd, iovecs, count, offset), again after EINTR: the bytes read (0 at the end of the
   * file), possibly fewer than asked.
   */
  long preadv(MemorySegment iovecs, int count, long offset, Arena arena) throws IOException {
    return vectored(Syscall.NUMBERS.preadv(), "preadv", iovecs, count, offset, arena);
  }

  /** One pwritev(fd, iovecs, count, offset), again after EINTR: the bytes written, possibly fewer. */
  long pwritev(MemorySegment iovecs, int count, long offset, Arena arena) throws IOException {
    return vectored(Syscall.NUMBERS.pwritev(), "pwritev", iovecs, count, offset, arena);
  }

  private long vectored(long number, String callName, MemorySegment iovecs, int count, long offset, Arena arena)
      throws IOException {
    MemorySegment errno = arena.allocate(Libc.ERRNO_STATE);
    enter();
    try {
      while (true) {
        // The system call takes the offset as two halves; on a 64-bit kernel the low one holds it all.
        long result = Syscall.call(errno, number, fd, iovecs.address(), count, offset, 0, 0);
        if (result >= 0) {
          return result;
        }
        int code = Libc.errno(errno);
        if (code != EINTR) {
          throw new IOException(name + ": " + callName + " of " + count + " buffers at offset " + offset
              + " failed: " + Libc.describe(code));
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

  /**
   * One copy_file_range from {@code source} at {@code sourceOffset} to this file at {@code offset},
   * again after EINTR: the bytes copied (0 at the end of the source), possibly fewer than asked;
   * -1 when the kernel cannot copy between these two files (another file system before Linux
   * 5.19, a file system or kernel without the call): nothing was copied, the caller copies itself.
   */
  long copyFileRange(NativeFile source, long sourceOffset, long offset, long length) throws IOException {
    if (Syscall.CALL == null) {
      return -1;
    }
    source.enter();
    try {
      enter();
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment errno = arena.allocate(Libc.ERRNO_STATE);
        MemorySegment offsets = arena.allocate(ValueLayout.JAVA_LONG, 2);
        while (true) {
          fields(offsets).putLong(0, sourceOffset).putLong(8, offset);
          long result = Syscall.call(errno, Syscall.NUMBERS.copyFileRange(), source.fd, offsets.address(), fd,
              offsets.address() + 8, length, 0);
          if (result >= 0) {
            return result;
          }
          int code = Libc.errno(errno);
          if (code == EXDEV || code == EINVAL || code == ENOSYS || code == EOPNOTSUPP || code == EBADF) {
            return -1;
          }
          if (code != EINTR) {
            throw new IOException(name + ": copy_file_range of " + length + " bytes from " + source.name + " at offset "
                + sourceOffset + " to offset " + offset + " failed: " + Libc.describe(code));
          }
        }
      } catch (IOException | RuntimeException | Error e) {
        throw e;
      } catch (Throwable e) {
        throw new IOException(name + ": copy_file_range to offset " + offset + " failed", e);
      } finally {
        guard.leave();
      }
    } finally {
      source.guard.leave();
    }
  }

  /** Whether open file description locks can be taken on this platform. */
  boolean hasLocks() {
    return Syscall.CALL != null;
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
      MemorySegment errno = arena.allocate(Libc.ERRNO_STATE);
      MemorySegment lock = flock(arena, type, offset);
      while (true) {
        long result = Syscall.call(errno, Syscall.NUMBERS.fcntl(), fd, command, lock.address(), 0, 0, 0);
        if (result == 0) {
          return fields(lock).getShort(0);
        }
        int code = Libc.errno(errno);
        if (command == F_OFD_SETLK && (code == EAGAIN || code == EACCES)) {
          return -1;
        }
        if (code != EINTR) {
          throw new IOException(name + ": fcntl(" + (command == F_OFD_GETLK ? "F_OFD_GETLK" : "F_OFD_SETLK")
              + ") on byte " + offset + " failed: " + Libc.describe(code));
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
    if (Syscall.CALL == null) {
      return -1;
    }
    try (Arena arena = Arena.ofConfined()) {
      // The kernel's struct stat on x86_64 and aarch64 is at most 144 bytes; st_blocks is the
      // 64-bit field at offset 64 on both.
      var stat = arena.allocate(256, 8);
      long result = Syscall.call(arena.allocate(Libc.ERRNO_STATE), Syscall.NUMBERS.newfstatat(), AT_FDCWD,
          cString(arena, path.toString()).address(), stat.address(), 0, 0, 0);
      return result == 0 ? fields(stat).getLong(64) * 512 : -1;
    } catch (Throwable e) {
      return -1;
    }
  }

  private long seek(long offset, int whence) throws ClosedStorageException {
    if (Syscall.CALL == null) {
      return -1;
    }
    enter();
    try (Arena arena = Arena.ofConfined()) {
      return Syscall.call(arena.allocate(Libc.ERRNO_STATE), Syscall.NUMBERS.lseek(), fd, offset, whence, 0, 0, 0);
    } catch (Throwable e) {
      return -1;
    } finally {
      guard.leave();
    }
  }

  /**
   * A struct flock for byte {@code offset} (l_type {@code type}, l_whence SEEK_SET, l_len 1, l_pid
   * 0 as OFD locks want it).
   */
  private static MemorySegment flock(Arena arena, short type, long offset) {
    MemorySegment lock = arena.allocate(FLOCK);
    fields(lock).putShort(0, type).putShort(2, (short) 0).putLong(8, offset).putLong(16, 1L).putInt(24, 0);
    return lock;
  }

  /**
   * The fields of a struct in native memory, read and written through a ByteBuffer in the
   * platform's byte order. At start-up this is cheaper than a layout's VarHandle: the buffer
   * classes are loaded and in use already, while the first VarHandle of each type makes the JDK
   * generate method-handle classes (about 4 ms of a command's first native call).
   */
  static ByteBuffer fields(MemorySegment struct) {
    return struct.asByteBuffer().order(ByteOrder.nativeOrder());
  }

  /** {@code text} in UTF-8 and a terminating NUL (the memory of an arena starts zeroed). */
  private static MemorySegment cString(Arena arena, String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    MemorySegment string = arena.allocate(bytes.length + 1L);
    string.asByteBuffer().put(bytes);
    return string;
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
      try (Arena arena = Arena.ofConfined()) {
        Syscall.call(arena.allocate(Libc.ERRNO_STATE), Syscall.NUMBERS.close(), fd, 0, 0, 0, 0, 0);
      }
    } catch (Throwable e) {
      // The descriptor is gone either way.
    }
  }

  /**
   * The linker, libc's symbols and the errno capture, made on the first native call (linking a
   * downcall costs milliseconds at start-up: the linker spins method handles and a stub).
   */
  private static final class Libc {
    /** Whether the calls exist here: 64-bit Linux (struct layouts and numbers below are its). */
    static final boolean LINUX =
        System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux") && ValueLayout.ADDRESS.byteSize() == 8;
    static final Linker LINKER = Linker.nativeLinker();
    static final SymbolLookup SYMBOLS = LINKER.defaultLookup();
    static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    static final StructLayout ERRNO_STATE = Linker.Option.captureStateLayout();
    static final int ERRNO_OFFSET = offsetOf(ERRNO_STATE, "errno");

    /** A downcall handle of libc's {@code name}; null off 64-bit Linux or when libc lacks it. */
    @SuppressWarnings("restricted")
    static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
      if (!LINUX) {
        return null;
      }
      try {
        return SYMBOLS.find(name).map(symbol -> LINKER.downcallHandle(symbol, descriptor, options)).orElse(null);
      } catch (RuntimeException e) {
        return null;
      }
    }

    /** libc's {@code name}; null off 64-bit Linux or when libc lacks it. */
    static MemorySegment symbol(String name) {
      return LINUX ? SYMBOLS.find(name).orElse(null) : null;
    }

    /**
     * A downcall handle of {@code descriptor} whose first argument is the function's address;
     * null off 64-bit Linux or when the linker refuses it.
     */
    @SuppressWarnings("restricted")
    static MethodHandle downcall(FunctionDescriptor descriptor, Linker.Option... options) {
      if (!LINUX) {
        return null;
      }
      try {
        return LINKER.downcallHandle(descriptor, options);
      } catch (RuntimeException e) {
        return null;
      }
    }

    /**
     * The offset of the member {@code name} of {@code struct}, summed over the members before it
     * rather than asked of a layout path (whose class makes method handles, milliseconds at start-up).
     */
    private static int offsetOf(StructLayout struct, String name) {
      long offset = 0;
      for (MemoryLayout member : struct.memberLayouts()) {
        if (name.equals(member.name().orElse(null))) {
          return (int) offset;
        }
        offset += member.byteSize();
      }
      throw new IllegalStateException("no " + name + " in " + struct);
    }

    static int errno(MemorySegment state) {
      return fields(state).getInt(ERRNO_OFFSET);
    }

    /** strerror's text for an errno value, and the value. */
    @SuppressWarnings("restricted")
    static String describe(int code) {
      String text = "";
      try {
        if (Strerror.CALL != null) {
          MemorySegment message = (MemorySegment) Strerror.CALL.invokeExact(code);
          text = message.reinterpret(256).getString(0) + " ";
        }
      } catch (Throwable e) {
        // The number alone then.
      }
      return text + "(errno " + code + ")";
    }
  }

  /** The numbers of the system calls made here, per architecture. */
  private record SyscallNumbers(long openat, long close, long fallocate, long lseek, long newfstatat, long preadv,
      long pwritev, long fcntl, long copyFileRange) {
    static SyscallNumbers of(String arch) {
      return switch (arch) {
        case "amd64", "x86_64" -> new SyscallNumbers(257, 3, 285, 8, 262, 295, 296, 72, 326);
        case "aarch64" -> new SyscallNumbers(56, 57, 47, 62, 79, 69, 70, 25, 285);
        default -> null;
      };
    }
  }

  /**
   * long syscall(long number, ...) with six long arguments and errno captured. Every call goes
   * through this one handle: the linker makes one stub per function signature, each costing
   * milliseconds at start-up, and here all calls share one.
   *
   * <p>Linked as a function of seven longs, not as a variadic one: with integer arguments only,
   * the two conventions pass every argument alike on 64-bit Linux (x86_64: registers, then the
   * stack; aarch64's AAPCS64 has no variadic difference outside Apple's), and the one thing a
   * variadic call adds on x86_64, the count of vector registers in %al, is read by no syscall():
   * glibc's is assembly that overwrites %rax with the number first, and a C one (musl's) only
   * tests %al to decide whether to save the vector registers it never reads. The variadic link
   * binds that count as an argument, which makes the JDK generate four method-handle classes
   * at start-up (BoundMethodHandle species with a long): about 6 ms of the first call.
   */
  static final class Syscall {
    static final SyscallNumbers NUMBERS = SyscallNumbers.of(System.getProperty("os.arch", ""));
    /**
     * libc's syscall(), passed to every call as the handle's first argument: a handle with the
     * address bound in it (the linker's insertArguments) makes the JDK generate one more class.
     */
    static final MemorySegment FUNCTION = NUMBERS == null ? null : Libc.symbol("syscall");
    static final MethodHandle CALL = FUNCTION == null ? null : link();

    /**
     * The handle, after one call through it: fcntl(F_OFD_GETLK) on descriptor -1, which fails
     * with EBADF and touches nothing. The first call through a handle makes the invoker of its
     * call type, and this one also sets up the memory accesses an open and a lock make, so that
     * all of it is made while the class initializes (on the preparing thread at start-up).
     */
    private static MethodHandle link() {
      // NativeFile's own initialization (its struct layouts) is left to the first thread that
      // opens a file: at start-up the main thread, which runs it while this one links
      MethodHandle handle = Libc.downcall(
          FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
              ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
              ValueLayout.JAVA_LONG),
          Libc.CAPTURE_ERRNO);
      if (handle != null) {
        try (Arena arena = Arena.ofConfined()) {
          MemorySegment errno = arena.allocate(Libc.ERRNO_STATE);
          MemorySegment lock = flock(arena, F_WRLCK, 0);
          long unused = (long) handle.invokeExact(FUNCTION, errno, NUMBERS.fcntl(), -1L, (long) F_OFD_GETLK,
              lock.address(), 0L, 0L, 0L);
          Libc.errno(errno);
          fields(lock).getShort(0);
          cString(arena, "/");
        } catch (Throwable e) {
          // the handle was made; a failure of the call itself shows on the real calls
        }
      }
      return handle;
    }

    /**
     * Whether the calls can be made here. The first use in a process links them, which costs tens of
     * milliseconds of cold linker code: {@link NativeCalls#prepareInBackground} runs it on a thread
     * of its own at start-up, and a thread that needs a call meanwhile waits for this class's
     * initialization to end (it starts here, not in NativeFile's, so that the waiting thread finds
     * it started).
     */
    static boolean ready() {
      return CALL != null;
    }

    /** The call's result: -1 with errno in {@code errno} when it failed. */
    static long call(MemorySegment errno, long number, long a, long b, long c, long d, long e, long f)
        throws Throwable {
      return (long) CALL.invokeExact(FUNCTION, errno, number, a, b, c, d, e, f);
    }
  }

  private static final class Strerror {
    static final MethodHandle CALL = Libc.downcall("strerror", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
  }

  /** struct flock of 64-bit Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad). */
  private static final MemoryLayout FLOCK = MemoryLayout.structLayout(
      ValueLayout.JAVA_SHORT.withName("l_type"), ValueLayout.JAVA_SHORT.withName("l_whence"),
      MemoryLayout.paddingLayout(4), ValueLayout.JAVA_LONG.withName("l_start"),
      ValueLayout.JAVA_LONG.withName("l_len"), ValueLayout.JAVA_INT.withName("l_pid"),
      MemoryLayout.paddingLayout(4));
}
