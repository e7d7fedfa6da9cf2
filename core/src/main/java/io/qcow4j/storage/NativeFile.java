package io.qcow4j.storage;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * The Linux calls FileChannel lacks (fallocate, lseek with SEEK_DATA/SEEK_HOLE), through the FFM
 * API on a descriptor of its own for the file. Absent where the platform has no such calls.
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
  private static final Calls CALLS = Calls.load();

  private final int fd;

  private NativeFile(int fd) {
    this.fd = fd;
  }

  /** Opens a descriptor for {@code path}; empty where the calls cannot be reached. */
  static Optional<NativeFile> open(Path path, boolean readOnly) {
    if (CALLS == null) {
      return Optional.empty();
    }
    try (Arena arena = Arena.ofConfined()) {
      int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
      int fd = (int) CALLS.open.invokeExact(arena.allocateFrom(path.toString()), flags);
      return fd < 0 ? Optional.empty() : Optional.of(new NativeFile(fd));
    } catch (Throwable e) {
      return Optional.empty();
    }
  }

  /** Calls fallocate(fd, mode, offset, length); false when the file system refuses the mode. */
  boolean fallocate(int mode, long offset, long length) {
    try {
      return (int) CALLS.fallocate.invokeExact(fd, mode, offset, length) == 0;
    } catch (Throwable e) {
      return false;
    }
  }

  /** lseek(SEEK_DATA): the first data offset at or after {@code offset}, -1 if none or unknown. */
  long seekData(long offset) {
    return seek(offset, SEEK_DATA);
  }

  /** lseek(SEEK_HOLE): the first hole offset at or after {@code offset}, -1 if unknown. */
  long seekHole(long offset) {
    return seek(offset, SEEK_HOLE);
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

  private long seek(long offset, int whence) {
    try {
      return (long) CALLS.lseek.invokeExact(fd, offset, whence);
    } catch (Throwable e) {
      return -1;
    }
  }

  @Override
  public void close() {
    try {
      int ignored = (int) CALLS.close.invokeExact(fd);
    } catch (Throwable e) {
      // The descriptor is gone either way.
    }
  }

  private record Calls(
      MethodHandle open, MethodHandle fallocate, MethodHandle lseek, MethodHandle close,
      MethodHandle stat, long blocksOffset) {
    static Calls load() {
      if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
        return null;
      }
      try {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        MethodHandle open = linker.downcallHandle(libc.find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle fallocate = linker.downcallHandle(libc.find("fallocate").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
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
        return new Calls(open, fallocate, lseek, close, blocksOffset < 0 ? null : stat, blocksOffset);
      } catch (Throwable e) {
        return null;
      }
    }
  }
}
