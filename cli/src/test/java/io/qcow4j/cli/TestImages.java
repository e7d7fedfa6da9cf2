package io.qcow4j.cli;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * A set of raw and qcow2 images made once per test JVM with qemu-img and qemu-io, covering the
 * options the command line must describe like qemu-img: cluster sizes, v2, extended L2,
 * preallocation, refcount widths, lazy refcounts, an external raw data file, compression (zlib,
 * zstd, partly overwritten), a raw/qcow2/qcow2 backing chain with a shorter backing file, a
 * snapshot, bitmaps, a dirty image, and images whose last data cluster runs past the end of the
 * file (the host file ends inside it).
 */
final class TestImages {
  /** The writes every qcow2 image gets: data, zeroes, unaligned data, a discard, unmapped zeroes. */
  static final String[] WRITES = {
    "write -P 1 0 100k", "write -z 1M 200k", "write -P 2 2047k 3k", "discard 0 32k", "write -P 3 5M 64k",
    "write -z -u 6M 128k"
  };

  static final List<String> RAW = List.of("sparse.raw", "empty.raw", "full.raw", "base.raw");
  static final List<String> QCOW2 = List.of(
      "default.qcow2", "c512.qcow2", "v2.qcow2", "c2m.qcow2", "extl2.qcow2", "extl2-2m.qcow2",
      "prealloc-metadata.qcow2", "prealloc-falloc.qcow2", "rc1.qcow2", "rc64-lazy.qcow2", "datafile-raw.qcow2",
      "compressed-zlib.qcow2", "compressed-zstd.qcow2", "mid.qcow2", "top.qcow2", "dirty.qcow2",
      "tail-2m.qcow2", "tail-64k.qcow2");

  private static Path directory;

  private TestImages() {}

  /** Every image name, raw first. */
  static Stream<String> all() {
    return Stream.concat(RAW.stream(), QCOW2.stream());
  }

  /** The absolute path of a test image, making the set on first use. */
  static synchronized Path path(String name) {
    if (directory == null) {
      directory = make();
    }
    return directory.resolve(name);
  }

  /** A fresh scratch directory for a test's own files. */
  static Path scratch() {
    try {
      Path dir = Files.createTempDirectory("qcow4j-cli-test");
      deleteOnExit(dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path make() {
    Path dir = scratch();
    try {
      Random random = new Random(42);
      Path sparse = dir.resolve("sparse.raw");
      try (RandomAccessFile file = new RandomAccessFile(sparse.toFile(), "rw")) {
        file.setLength(10 << 20);
        file.seek(1 << 20);
        file.write("hello".getBytes());
        byte[] noise = new byte[192 << 10];
        random.nextBytes(noise);
        file.seek(3200 << 10);
        file.write(noise);
      }
      try (RandomAccessFile file = new RandomAccessFile(dir.resolve("empty.raw").toFile(), "rw")) {
        file.setLength(4 << 20);
      }
      byte[] full = new byte[1 << 20];
      random.nextBytes(full);
      Files.write(dir.resolve("full.raw"), full);
      try (RandomAccessFile file = new RandomAccessFile(dir.resolve("base.raw").toFile(), "rw")) {
        file.setLength(4 << 20);
      }
      Qemu.io(dir.resolve("base.raw"), "raw", "write -P 7 512k 64k", "write -P 8 3M 4k");

      qcow2(dir, "default.qcow2");
      qcow2(dir, "c512.qcow2", "-o", "cluster_size=512");
      qcow2(dir, "v2.qcow2", "-o", "compat=0.10,cluster_size=4k");
      qcow2(dir, "c2m.qcow2", "-o", "cluster_size=2M");
      qcow2(dir, "extl2.qcow2", "-o", "extended_l2=on,cluster_size=16k");
      qcow2(dir, "extl2-2m.qcow2", "-o", "extended_l2=on,cluster_size=2M");
      qcow2(dir, "prealloc-metadata.qcow2", "-o", "preallocation=metadata");
      qcow2(dir, "prealloc-falloc.qcow2", "-o", "preallocation=falloc");
      qcow2(dir, "rc1.qcow2", "-o", "refcount_bits=1");
      qcow2(dir, "rc64-lazy.qcow2", "-o", "refcount_bits=64,lazy_refcounts=on");
      qcow2(dir, "datafile-raw.qcow2", "-o",
          "data_file=" + dir.resolve("datafile-raw.data") + ",data_file_raw=on,extended_l2=on");
      Qemu.check("qemu-img", "convert", "-c", "-O", "qcow2", dir.resolve("default.qcow2").toString(),
          dir.resolve("compressed-zlib.qcow2").toString());
      Qemu.io(dir.resolve("compressed-zlib.qcow2"), "qcow2", "write -P 5 64k 4k");
      Qemu.check("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=4k",
          dir.resolve("c512.qcow2").toString(), dir.resolve("compressed-zstd.qcow2").toString());

      // base.raw (4M) <- mid.qcow2 (4M) <- top.qcow2 (6M, longer than its backing), relative names
      Qemu.createQcow2(dir.resolve("mid.qcow2"), null, "-b", "base.raw", "-F", "raw");
      Qemu.io(dir.resolve("mid.qcow2"), "qcow2", "write -P 4 1M 64k", "write -z 3M 4k");
      Qemu.createQcow2(dir.resolve("top.qcow2"), "6M", "-b", "mid.qcow2", "-F", "qcow2", "-o",
          "lazy_refcounts=on,compression_type=zstd,cluster_size=32k");
      Qemu.io(dir.resolve("top.qcow2"), "qcow2", "write -P 1 0 48k", "write -z 2M 64k", "write -c -P 3 5M 64k",
          "write -P 6 4092k 8k");
      Qemu.check("qemu-img", "snapshot", "-c", "snap1", dir.resolve("top.qcow2").toString());
      Qemu.check("qemu-img", "bitmap", "--add", dir.resolve("top.qcow2").toString(), "bm0");
      Qemu.check("qemu-img", "bitmap", "--add", "--disable", "-g", "1M", dir.resolve("top.qcow2").toString(), "bm1");

      // written by qcow4j, which (unlike qemu-io) leaves the file ending inside the last data
      // cluster: 1 byte of a 2 MiB cluster, 70,000 bytes of 64 KiB clusters
      ours(dir.resolve("tail-2m.qcow2"), "cluster_size=2M", "write -P 9 0 1");
      ours(dir.resolve("tail-64k.qcow2"), "cluster_size=64k", "write -P 9 0 70000");

      // a lazy-refcounts image left dirty: qemu-io aborts before closing it
      Qemu.createQcow2(dir.resolve("dirty.qcow2"), "4M", "-o", "lazy_refcounts=on");
      Qemu.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "abort", dir.resolve("dirty.qcow2").toString());
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void qcow2(Path dir, String name, String... options) {
    Path image = dir.resolve(name);
    Qemu.createQcow2(image, "8M", options);
    Qemu.io(image, "qcow2", WRITES);
  }

  private static void ours(Path image, String options, String write) {
    for (Cli.Result result : List.of(Cli.run("create", "-q", "-f", "qcow2", "-o", options, image.toString(), "8M"),
        Cli.run("io", "-f", "qcow2", "-c", write, image.toString()))) {
      if (result.exitCode() != 0) {
        throw new IllegalStateException("qcow4j failed making " + image + ": " + result.err());
      }
    }
  }

  private static void deleteOnExit(Path dir) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try (Stream<Path> paths = Files.walk(dir)) {
        paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
      } catch (IOException e) {
        // best effort: the temporary directory is left behind
      }
    }));
  }
}
