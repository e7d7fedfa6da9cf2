package io.qcow4j.fuzz;

import io.qcow4j.testing.BochsImages;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;

/**
 * The fuzzer's seed corpus: small images of every shape qemu-img makes (v2/v3, cluster sizes 512
 * to 2 MiB, every refcount width, extended L2, zlib and zstd compressed clusters, snapshots,
 * bitmaps, a backing file name, a dirty lazy-refcounts image, zero clusters), made with
 * qemu-img/qemu-io when the tests start and handed over as whole files.
 */
final class SeedImages {
  private static final int KIB = 1024;

  private SeedImages() {}

  /** Every seed image, each named by its shape; fails when qemu-img or qemu-io is missing. */
  static Stream<Named<byte[]>> all() {
    Path directory;
    try {
      directory = Files.createTempDirectory("qcow4j-fuzz-seeds");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      return makeAll(new Maker(directory)).stream();
    } catch (IOException e) {
      throw new UncheckedIOException("making the fuzz seed images in " + directory, e);
    } finally {
      deleteTree(directory);
    }
  }

  private static List<Named<byte[]>> makeAll(Maker maker) throws IOException {
    List<Named<byte[]>> seeds = new ArrayList<>();
    for (String compat : List.of("0.10", "1.1")) {
      for (int clusterSize : List.of(512, 4 * KIB, 64 * KIB, 2048 * KIB)) {
        String name = "compat-" + compat + "-cluster-" + clusterSize;
        Path image = maker.qcow2(name, 64 * KIB * 16, "compat=" + compat + ",cluster_size=" + clusterSize);
        maker.io(image, "write -P 0x11 0 3k", "write -P 0x22 " + (40 * KIB + 100) + " 5000", "write -z 8k 4k");
        seeds.add(maker.seed(name, image));
      }
    }
    for (int refcountBits : List.of(1, 2, 4, 8, 16, 32, 64)) {
      String name = "refcount-bits-" + refcountBits;
      Path image = maker.qcow2(name, 256 * KIB, "cluster_size=512,refcount_bits=" + refcountBits);
      maker.io(image, "write -P 0x33 0 2k", "write -P 0x44 100k 1k", "discard 512 512");
      seeds.add(maker.seed(name, image));
    }
    Path extended = maker.qcow2("extended-l2", 1024 * KIB, "extended_l2=on,cluster_size=16384");
    maker.io(extended, "write -P 0x55 0 512", "write -P 0x56 2k 1k", "write -z 16k 2k", "write -z -u 64k 16k",
        "write -P 0x57 100k 20k");
    seeds.add(maker.seed("extended-l2", extended));
    for (String compression : List.of("zlib", "zstd")) {
      Path raw = maker.directory.resolve("source-" + compression + ".raw");
      maker.tools.img("create", "-q", "-f", "raw", raw, "64k");
      maker.tools.io("-f", "raw", "-c", "write -P 0x66 0 12k", "-c", "write -P 0x67 32k 4k", raw);
      String name = "compressed-" + compression;
      Path image = maker.directory.resolve(name + ".qcow2");
      maker.tools.img("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o",
          "cluster_size=4096,compression_type=" + compression, raw, image);
      maker.io(image, "write -P 0x68 4k 1k");
      seeds.add(maker.seed(name, image));
    }
    Path snapshots = maker.qcow2("snapshots", 256 * KIB, "cluster_size=512");
    maker.io(snapshots, "write -P 0x71 0 2k");
    maker.tools.img("snapshot", "-c", "first", snapshots);
    maker.io(snapshots, "write -P 0x72 1k 2k");
    maker.tools.img("snapshot", "-c", "second", snapshots);
    maker.io(snapshots, "write -P 0x73 0 512");
    seeds.add(maker.seed("snapshots", snapshots));
    Path bitmaps = maker.qcow2("bitmaps", 256 * KIB, "cluster_size=4096");
    maker.tools.img("bitmap", "--add", bitmaps, "tracked");
    maker.tools.img("bitmap", "--add", "-g", 65536, bitmaps, "coarse");
    maker.io(bitmaps, "write -P 0x74 0 8k");
    seeds.add(maker.seed("bitmaps", bitmaps));
    maker.qcow2("base", 256 * KIB, "cluster_size=512");
    Path overlay = maker.directory.resolve("overlay.qcow2");
    maker.tools.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", "base.qcow2", "-F", "qcow2",
        overlay, "256k");
    maker.io(overlay, "write -P 0x75 1k 1k");
    seeds.add(maker.seed("backing-file-name", overlay));
    seeds.add(maker.seed("lazy-refcounts-dirty", maker.dirtyLazyRefcounts()));
    Path vmdk = maker.directory.resolve("sparse.vmdk");
    maker.tools.img("create", "-q", "-f", "vmdk", "-o", "zeroed_grain=on", vmdk, "1M");
    maker.tools.io("-f", "vmdk", "-c", "write -P 0x81 0 3k", "-c", "write -P 0x82 200k 70k", "-c", "write -z 512k 64k",
        vmdk);
    seeds.add(maker.seed("vmdk-sparse", vmdk));
    Path streamSource = maker.directory.resolve("stream.raw");
    maker.tools.img("create", "-q", "-f", "raw", streamSource, "1M");
    maker.tools.io("-f", "raw", "-c", "write -P 0x83 0 70k", "-c", "write -P 0x84 900k 4k", streamSource);
    Path stream = maker.directory.resolve("stream.vmdk");
    maker.tools.img("convert", "-q", "-O", "vmdk", "-o", "subformat=streamOptimized", streamSource, stream);
    seeds.add(maker.seed("vmdk-stream-optimized", stream));
    for (List<String> recipe : List.of(List.of("vpc", "subformat=dynamic"), List.of("vpc", "subformat=fixed"),
        List.of("vdi", "static=off"), List.of("qed", "cluster_size=4096"), List.of("qcow", "encryption=off"),
        List.of("vhdx", "block_size=1M"))) {
      String format = recipe.get(0);
      String name = format + "-" + recipe.get(1).replaceAll("[=,]", "-");
      Path image = maker.directory.resolve(name + "." + format);
      maker.tools.img("create", "-q", "-f", format, "-o", recipe.get(1), image, "1M");
      String write = format.equals("qcow") ? "write -c -P 0x78 4k 4k" : "write -z 8k 4k";
      maker.tools.io("-f", format, "-c", "write -P 0x77 1k 3k", "-c", write, image);
      seeds.add(maker.seed(name, image));
    }
    // qemu-img cannot create bochs images: one built from the format's description
    seeds.add(Named.of("seed bochs-growing", new BochsImages(64 * 1024 + 1536, 4096).write(0, 3, 1).write(9, 4, 2)
        .write(8 * 16 + 1, 1, 3).bytes()));
    return seeds;
  }

  /** Makes images in one directory with qemu-img and qemu-io. */
  private static final class Maker {
    private final Path directory;
    private final QemuTools tools;

    Maker(Path directory) {
      this.directory = directory;
      this.tools = QemuTools.in(directory);
    }

    Path qcow2(String name, long size, String options) {
      Path image = directory.resolve(name + ".qcow2");
      tools.img("create", "-q", "-f", "qcow2", "-o", options, image, size);
      return image;
    }

    void io(Path image, String... commands) {
      List<Object> args = new ArrayList<>(List.of("-f", "qcow2"));
      for (String command : commands) {
        args.add("-c");
        args.add(command);
      }
      args.add(image);
      tools.io(args.toArray());
    }

    /** An image whose lazy refcounts were never written back: qemu-io is killed after a flush. */
    Path dirtyLazyRefcounts() throws IOException {
      Path image = qcow2("lazy-refcounts-dirty", 256 * KIB, "cluster_size=512,lazy_refcounts=on");
      tools.runChecked(137, "qemu-io", "-f", "qcow2", "-c", "write -P 0x76 0 3k", "-c", "flush", "-c", "sigraise 9",
          image);
      try (ImageBytes bytes = ImageBytes.open(image)) {
        if ((bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 1) == 0) {
          throw new IllegalStateException("the killed qemu-io left " + image + " clean; the seed needs it dirty");
        }
      }
      return image;
    }

    Named<byte[]> seed(String name, Path image) throws IOException {
      return Named.of("seed " + name, Files.readAllBytes(image));
    }
  }

  private static void deleteTree(Path directory) {
    try (Stream<Path> paths = Files.walk(directory)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    } catch (IOException e) {
      // A leftover temporary directory is harmless.
    }
  }
}
