package io.qcow4j.interop;

import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The one place that makes interop images: a catalog of recipes, each building one image with
 * qemu-img and qemu-io (every option QEMU 7.2 offers), and the workloads they write.
 */
final class InteropImages {
  static final long KIB = 1024;
  static final long MIB = 1024 * KIB;

  /** Seeds the pattern file that `write -s` repeats; its odd length keeps the repeats off cluster boundaries. */
  private static final long PATTERN_SEED = 0x9c0_4_1a7eL;
  private static final int PATTERN_LENGTH = 100_003;
  static final String PATTERN = "pattern.bin";

  private InteropImages() {}

  /** One image to make: a name, and how to make it in an empty directory (returning the file to open). */
  record Recipe(String name, Body body) {
    /** Makes the image in {@code directory} (created if missing) and returns its path. */
    Path build(Path directory) {
      try {
        Files.createDirectories(directory);
        return body.build(new Maker(directory));
      } catch (IOException e) {
        throw new UncheckedIOException("building interop image " + name, e);
      }
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** The steps of a recipe. */
  @FunctionalInterface
  interface Body {
    Path build(Maker maker) throws IOException;
  }

  /** Every recipe, in a stable order. */
  static List<Recipe> all() {
    List<Recipe> recipes = new ArrayList<>();
    recipes.add(new Recipe("raw-sparse", maker -> {
      Path image = maker.raw("disk.raw", 16 * MIB);
      maker.io(image, "raw", standardWorkload(16 * MIB, 4 * KIB));
      return image;
    }));
    recipes.add(new Recipe("qcow2-empty", maker -> maker.qcow2("disk.qcow2", 16 * MIB, "")));

    for (long clusterSize : List.of(512L, 4 * KIB, 64 * KIB, 2 * MIB)) {
      for (String compat : List.of("0.10", "1.1")) {
        recipes.add(workloadRecipe("cluster-" + sizeName(clusterSize) + "-compat-" + compat,
            clusterSize, "cluster_size=" + clusterSize + ",compat=" + compat));
      }
    }
    for (int refcountBits : List.of(1, 2, 4, 8, 16, 32, 64)) {
      recipes.add(workloadRecipe("refcount-bits-" + refcountBits, 4 * KIB,
          "cluster_size=4096,refcount_bits=" + refcountBits));
    }

    recipes.add(new Recipe("lazy-refcounts-dirty", maker -> {
      Path image = maker.qcow2("disk.qcow2", 16 * MIB, "lazy_refcounts=on");
      // flush writes the L2 tables while the refcounts stay deferred; SIGKILL keeps the dirty bit set.
      List<String> commands = new ArrayList<>(standardWorkload(16 * MIB, 64 * KIB));
      commands.add("flush");
      commands.add("sigraise 9");
      maker.ioExpectingExit(137, image, "qcow2", commands);
      try (ImageBytes bytes = ImageBytes.open(image)) {
        if ((bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 1) == 0) {
          throw new IllegalStateException("the killed qemu-io left " + image + " clean; the recipe needs it dirty");
        }
      }
      return image;
    }));
    recipes.add(workloadRecipe("lazy-refcounts-clean", 64 * KIB, "lazy_refcounts=on"));

    for (long clusterSize : List.of(16 * KIB, 64 * KIB, 2 * MIB)) {
      recipes.add(new Recipe("extended-l2-" + sizeName(clusterSize), maker -> {
        long size = diskSize(clusterSize);
        Path image = maker.qcow2("disk.qcow2", size, "extended_l2=on,cluster_size=" + clusterSize);
        List<String> commands = new ArrayList<>(standardWorkload(size, clusterSize));
        commands.addAll(subclusterWrites(24 * clusterSize, clusterSize));
        maker.io(image, "qcow2", commands);
        return image;
      }));
    }
    recipes.add(new Recipe("extended-l2-over-backing", maker -> {
      Path base = maker.qcow2("base.qcow2", 16 * MIB, "");
      maker.io(base, "qcow2", List.of("write -s " + PATTERN + " 0 " + 4 * MIB));
      Path top = maker.overlay("top.qcow2", "base.qcow2", "qcow2", 16 * MIB, "extended_l2=on,cluster_size=65536");
      maker.io(top, "qcow2", subclusterWrites(64 * KIB, 64 * KIB));
      return top;
    }));

    for (String preallocation : List.of("metadata", "falloc", "full")) {
      recipes.add(workloadRecipe("preallocation-" + preallocation, 64 * KIB, "preallocation=" + preallocation));
    }

    recipes.add(compressedRecipe("compressed-zlib", 64 * KIB, "compression_type=zlib", false));
    recipes.add(compressedRecipe("compressed-zstd", 64 * KIB, "compression_type=zstd", false));
    recipes.add(compressedRecipe("compressed-compat-0.10", 64 * KIB, "compat=0.10", false));
    recipes.add(compressedRecipe("compressed-zlib-4k", 4 * KIB, "cluster_size=4096,compression_type=zlib", false));
    recipes.add(compressedRecipe("compressed-zstd-2M", 2 * MIB, "cluster_size=2097152,compression_type=zstd", false));
    recipes.add(compressedRecipe("compressed-zstd-overwritten", 64 * KIB, "compression_type=zstd", true));
    recipes.add(compressedRecipe("compressed-zlib-overwritten-compat-0.10", 64 * KIB, "compat=0.10", true));

    recipes.add(new Recipe("backing-raw-base", maker -> {
      Path base = maker.raw("base.raw", 16 * MIB);
      maker.io(base, "raw", layerWrites(0, 16 * MIB));
      Path top = maker.overlay("top.qcow2", "base.raw", "raw", 16 * MIB, "");
      maker.io(top, "qcow2", layerWrites(1, 16 * MIB));
      return top;
    }));
    recipes.add(new Recipe("backing-three-qcow2-levels", maker -> threeLevels(maker, "", "", "")));
    recipes.add(new Recipe("backing-three-levels-compat-0.10", maker ->
        threeLevels(maker, "compat=0.10", "compat=0.10", "compat=0.10")));
    recipes.add(new Recipe("backing-cluster-sizes-2M-4k-512", maker ->
        threeLevels(maker, "cluster_size=2097152", "cluster_size=4096", "cluster_size=512")));
    recipes.add(new Recipe("backing-shorter-than-overlay", maker -> {
      Path base = maker.qcow2("base.qcow2", 4 * MIB, "");
      maker.io(base, "qcow2", layerWrites(0, 4 * MIB));
      Path top = maker.overlay("top.qcow2", "base.qcow2", "qcow2", 16 * MIB, "");
      List<String> commands = new ArrayList<>(layerWrites(1, 16 * MIB));
      // A write that straddles the end of the backing file: its cluster's copy-on-write reads past it.
      commands.add("write -P 0xd1 " + (4 * MIB - 1000) + " 1500");
      maker.io(top, "qcow2", commands);
      return top;
    }));
    recipes.add(new Recipe("backing-longer-than-overlay", maker -> {
      Path base = maker.qcow2("base.qcow2", 32 * MIB, "");
      List<String> baseCommands = new ArrayList<>(layerWrites(0, 32 * MIB));
      baseCommands.add("write -P 0xd0 " + (16 * MIB - 3000) + " 6000");
      maker.io(base, "qcow2", baseCommands);
      Path top = maker.overlay("top.qcow2", "base.qcow2", "qcow2", 16 * MIB, "");
      maker.io(top, "qcow2", layerWrites(1, 16 * MIB));
      return top;
    }));
    recipes.add(new Recipe("backing-relative-names-in-subdirectories", maker -> {
      Files.createDirectories(maker.directory().resolve("images/base"));
      Files.createDirectories(maker.directory().resolve("images/overlays/deeper"));
      Path base = maker.qcow2("images/base/base.qcow2", 16 * MIB, "");
      maker.io(base, "qcow2", layerWrites(0, 16 * MIB));
      // Backing names are relative to the overlay's own directory, not to the working directory.
      Path middle = maker.overlay("images/overlays/middle.qcow2", "../base/base.qcow2", "qcow2", 16 * MIB, "");
      maker.io(middle, "qcow2", layerWrites(1, 16 * MIB));
      Path top = maker.overlay("images/overlays/deeper/top.qcow2", "../middle.qcow2", "qcow2", 16 * MIB, "");
      maker.io(top, "qcow2", layerWrites(2, 16 * MIB));
      return top;
    }));
    recipes.add(new Recipe("backing-qcow2-format-probed", maker -> {
      Path base = maker.qcow2("base.qcow2", 16 * MIB, "");
      maker.io(base, "qcow2", layerWrites(0, 16 * MIB));
      Path top = maker.overlay("top.qcow2", "base.qcow2", "qcow2", 16 * MIB, "");
      maker.io(top, "qcow2", layerWrites(1, 16 * MIB));
      hideBackingFormat(top);
      return top;
    }));
    recipes.add(new Recipe("backing-raw-format-probed", maker -> {
      Path base = maker.raw("base.raw", 16 * MIB);
      maker.io(base, "raw", layerWrites(0, 16 * MIB));
      Path top = maker.overlay("top.qcow2", "base.raw", "raw", 16 * MIB, "");
      maker.io(top, "qcow2", layerWrites(1, 16 * MIB));
      hideBackingFormat(top);
      return top;
    }));

    recipes.add(workloadRecipe("data-file", 64 * KIB, "data_file=disk.data"));
    recipes.add(workloadRecipe("data-file-raw", 64 * KIB, "data_file=disk.data,data_file_raw=on"));

    recipes.add(snapshotRecipe("internal-snapshots", ""));
    recipes.add(snapshotRecipe("internal-snapshots-compat-0.10", "compat=0.10"));

    recipes.add(new Recipe("persistent-bitmaps", maker -> {
      Path image = maker.qcow2("disk.qcow2", 16 * MIB, "");
      maker.img("bitmap", "--add", image, "tracked");
      maker.img("bitmap", "--add", "-g", 128 * KIB, image, "coarse");
      maker.img("bitmap", "--add", image, "disabled");
      maker.img("bitmap", "--disable", image, "disabled");
      maker.io(image, "qcow2", standardWorkload(16 * MIB, 64 * KIB));
      return image;
    }));
    return List.copyOf(recipes);
  }

  /**
   * The mixed writes every single-image recipe gets: pattern-file data and -P patterns, unaligned
   * offsets and lengths, writes across cluster boundaries, write -z with and without -u over data
   * and over nothing, whole and partial discards, a spread of 1 MiB, and writes that end the disk.
   */
  static List<String> standardWorkload(long size, long clusterSize) {
    long c = clusterSize;
    List<String> commands = new ArrayList<>(List.of(
        "write -s " + PATTERN + " 0 " + (c + c / 2 + 7),
        "write -P 0x5a 12345 3000",
        "write -s " + PATTERN + " " + (3 * c - 100) + " 200",
        "write -P 0x11 " + 4 * c + " " + 4 * c,
        "write -z " + 5 * c + " " + c,
        "write -z " + (6 * c + 100) + " 1000",
        "write -z -u " + 7 * c + " " + c,
        "write -z " + 9 * c + " " + 2 * c,
        "write -s " + PATTERN + " " + 11 * c + " " + 2 * c,
        "discard " + 11 * c + " " + c,
        "discard " + (12 * c + c / 4) + " " + c / 2,
        "write -s " + PATTERN + " " + (14 * c - 777) + " " + (2 * c + 1234),
        "write -s " + PATTERN + " " + (size / 2 + 4099) + " " + (MIB + 5),
        "write -P 0x77 " + (size - 5000) + " 5000",
        "write -P 0x99 " + (size - 1) + " 1"));
    return commands;
  }

  /** Writes at subcluster granularity (1/32 of a cluster) inside the cluster at {@code start}. */
  static List<String> subclusterWrites(long start, long clusterSize) {
    long sub = clusterSize / 32;
    return List.of(
        "write -P 0xe1 " + (start + 3 * sub) + " " + sub,
        "write -P 0xe2 " + (start + clusterSize + 5 * sub + 100) + " 3000",
        "write -z " + (start + 2 * clusterSize + 7 * sub) + " " + 2 * sub,
        "write -P 0xe3 " + (start + 3 * clusterSize) + " " + clusterSize,
        "write -z -u " + (start + 3 * clusterSize + 20 * sub) + " " + sub,
        "write -z " + (start + 3 * clusterSize + 25 * sub + 10) + " " + (sub + 20),
        "discard " + (start + 4 * clusterSize) + " " + clusterSize);
  }

  /** The writes of one chain layer (0 is the base); each layer overwrites parts of the ones below. */
  static List<String> layerWrites(int layer, long size) {
    return switch (layer) {
      case 0 -> List.of(
          "write -s " + PATTERN + " 0 " + (3 * MIB + 333),
          "write -P 0xb0 " + (size - 100_000) + " 100000");
      case 1 -> List.of(
          "write -P 0xb1 " + 32 * KIB + " " + 64 * KIB,
          "write -z " + 128 * KIB + " " + (128 * KIB + 100),
          "discard " + 320 * KIB + " " + 64 * KIB,
          "write -s " + PATTERN + " " + (MIB + 12345) + " 3000",
          "write -P 0xc1 " + (size - 70_000) + " 5000");
      case 2 -> List.of(
          "write -P 0xb2 " + (64 * KIB + 7) + " " + 192 * KIB,
          "write -z -u " + 512 * KIB + " " + 64 * KIB,
          "write -s " + PATTERN + " " + (2 * MIB - 50) + " 100",
          "discard " + 640 * KIB + " " + 128 * KIB,
          "write -P 0xc2 " + (size - 1) + " 1");
      default -> throw new IllegalArgumentException("no writes for layer " + layer);
    };
  }

  /** The virtual size for a cluster size: 16 MiB, or 32 clusters when they are larger. */
  static long diskSize(long clusterSize) {
    return Math.max(16 * MIB, 32 * clusterSize);
  }

  private static Recipe workloadRecipe(String name, long clusterSize, String options) {
    return new Recipe(name, maker -> {
      long size = diskSize(clusterSize);
      Path image = maker.qcow2("disk.qcow2", size, options);
      maker.io(image, "qcow2", standardWorkload(size, clusterSize));
      return image;
    });
  }

  private static Recipe compressedRecipe(String name, long clusterSize, String options, boolean overwrite) {
    return new Recipe(name, maker -> {
      long size = diskSize(clusterSize);
      Path source = maker.raw("source.raw", size);
      maker.io(source, "raw", standardWorkload(size, clusterSize));
      Path image = maker.directory().resolve("disk.qcow2");
      maker.img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, "source.raw", "disk.qcow2");
      if (overwrite) {
        long c = clusterSize;
        maker.io(image, "qcow2", List.of(
            "write -P 0x66 100 1000",
            "write -s " + PATTERN + " " + (4 * c + 5) + " " + c,
            "write -z " + 15 * c + " " + c,
            "discard " + (size / 2 + c) + " " + c,
            "write -c -s " + PATTERN + " " + 24 * c + " " + c,
            "write -c -P 0x6c " + 25 * c + " " + c));
      }
      Files.delete(source);
      return image;
    });
  }

  private static Path threeLevels(Maker maker, String baseOptions, String middleOptions, String topOptions)
      throws IOException {
    Path base = maker.qcow2("base.qcow2", 16 * MIB, baseOptions);
    maker.io(base, "qcow2", layerWrites(0, 16 * MIB));
    Path middle = maker.overlay("middle.qcow2", "base.qcow2", "qcow2", 16 * MIB, middleOptions);
    maker.io(middle, "qcow2", layerWrites(1, 16 * MIB));
    Path top = maker.overlay("top.qcow2", "middle.qcow2", "qcow2", 16 * MIB, topOptions);
    maker.io(top, "qcow2", layerWrites(2, 16 * MIB));
    return top;
  }

  private static Recipe snapshotRecipe(String name, String options) {
    return new Recipe(name, maker -> {
      Path image = maker.qcow2("disk.qcow2", 16 * MIB, options);
      maker.io(image, "qcow2", standardWorkload(16 * MIB, 64 * KIB));
      maker.img("snapshot", "-c", "first", image);
      maker.io(image, "qcow2", layerWrites(1, 16 * MIB));
      maker.img("snapshot", "-c", "second", image);
      maker.io(image, "qcow2", layerWrites(2, 16 * MIB));
      return image;
    });
  }

  /**
   * Renames the backing-format extension to a type nobody knows (which readers must skip), so the
   * backing file's format has to be probed, as for images made before the extension existed.
   */
  private static void hideBackingFormat(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long extension = bytes.findExtension(ImageBytes.EXTENSION_BACKING_FORMAT);
      if (extension < 0) {
        throw new IllegalStateException(image + " has no backing format extension to hide");
      }
      bytes.putU32(extension, 0x0bad_f0f0);
    }
  }

  private static String sizeName(long bytes) {
    if (bytes >= MIB) {
      return bytes / MIB + "M";
    }
    return bytes >= KIB ? bytes / KIB + "k" : String.valueOf(bytes);
  }

  /** Runs the tools inside one recipe's directory, so relative names are stored as given. */
  static final class Maker {
    private final Path directory;
    private final QemuTools tools;

    Maker(Path directory) throws IOException {
      this.directory = directory;
      this.tools = QemuTools.in(directory);
      Path pattern = directory.resolve(PATTERN);
      if (!Files.exists(pattern)) {
        byte[] bytes = new byte[PATTERN_LENGTH];
        new Random(PATTERN_SEED).nextBytes(bytes);
        Files.write(pattern, bytes);
      }
    }

    Path directory() {
      return directory;
    }

    /** qemu-img create -f qcow2 [-o options] name size. */
    Path qcow2(String name, long size, String options) {
      if (options.isEmpty()) {
        tools.img("create", "-q", "-f", "qcow2", name, size);
      } else {
        // a data file named absolutely: QEMU opens a relative name from the working directory
        tools.img("create", "-q", "-f", "qcow2", "-o", options.replace("data_file=", "data_file=" + directory + "/"),
            name, size);
      }
      return directory.resolve(name);
    }

    /** A qcow2 overlay over {@code backingName} (as the header will store it, relative to the overlay). */
    Path overlay(String name, String backingName, String backingFormat, long size, String options) {
      List<Object> args = new ArrayList<>(List.of("create", "-q", "-f", "qcow2", "-b", backingName, "-F", backingFormat));
      if (!options.isEmpty()) {
        args.addAll(List.of("-o", options));
      }
      args.addAll(List.of(name, size));
      tools.img(args.toArray());
      return directory.resolve(name);
    }

    /** An empty sparse raw file. */
    Path raw(String name, long size) {
      tools.img("create", "-q", "-f", "raw", name, size);
      return directory.resolve(name);
    }

    /** qemu-img with {@code args}, in the recipe's directory. */
    void img(Object... args) {
      tools.img(args);
    }

    /** Runs the qemu-io {@code commands} on {@code image}, each a separate -c. */
    void io(Path image, String format, List<String> commands) {
      ioExpectingExit(0, image, format, commands);
    }

    void ioExpectingExit(int exitCode, Path image, String format, List<String> commands) {
      List<Object> args = new ArrayList<>(List.of("-f", format));
      for (String command : commands) {
        args.add("-c");
        args.add(command);
      }
      args.add(image);
      QemuTools.Result result = tools.runChecked(exitCode, "qemu-io", args.toArray());
      // qemu-io reports failed commands on stdout/stderr but still exits 0.
      String output = result.stdout() + result.stderr();
      if (output.contains("failed") || output.contains("error") || output.contains("Error")) {
        throw new IllegalStateException("qemu-io reported an error: " + result.describe());
      }
    }
  }
}
