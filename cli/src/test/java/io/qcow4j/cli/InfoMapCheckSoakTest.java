package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Randomized side-by-side soak of the commands people run most on an image: info (human and
 * JSON, with and without --backing-chain), map (both outputs) and check (both outputs), on random
 * images made by the real qemu-img and qemu-io: cluster sizes 512 B to 2 MiB, refcount widths 1
 * to 64 bits, compat 0.10 and 1.1, extended L2 entries, zlib and zstd compressed clusters,
 * preallocation, lazy refcounts, images left unclosed by qemu-io's abort, backing chains of up to
 * three layers (raw or qcow2 at the bottom), data, zero and unmapped-zero writes and discards,
 * internal snapshots (qemu-img snapshot, some deleted again) and persistent bitmaps (qemu-img
 * bitmap: granularities, disabled, cleared, written after). Each command runs with qemu-img and
 * with qcow4j on the same file and must print the same stdout and stderr and exit with the same
 * status; the only normalisation is the program name that prefixes an error ("qemu-img: " and
 * "qcow4j: "), which differs by design. A few rounds by default; QCOW4J_LONG=1 runs a campaign
 * (QCOW4J_SOAK_SECONDS), -DQCOW4J_SEED=seed replays a round (see {@link SoakCampaign}).
 */
class InfoMapCheckSoakTest {
  private static final long KIB = 1024;
  private static final long MIB = 1024 * KIB;
  private static final String[] PATTERN_BYTES = {"0x11", "0x5a", "0xff", "0x01", "0xa5", "0x00"};
  private static final int[] REFCOUNT_BITS = {1, 2, 4, 8, 16, 32, 64};

  @Test
  void infoMapAndCheckMatchQemuImg() {
    SoakCampaign.run("info-map-check", 8, InfoMapCheckSoakTest::round);
  }

  /** One qcow2 layer's creation options, as the round chose them. */
  private record Layer(Path path, String format, long size, long clusterSize, boolean v3, int refcountBits,
      boolean extendedL2, boolean lazy) {
  }

  private static void round(long seed) {
    Random random = new Random(seed);
    Path dir = TestImages.scratch();
    int depth = random.nextInt(3);
    Layer below = null;
    List<String> sync = new ArrayList<>(List.of("sync"));
    for (int level = 0; level <= depth; level++) {
      boolean raw = level == 0 && depth > 0 && random.nextInt(3) == 0;
      below = raw ? rawBase(random, dir) : qcow2(random, dir, "l" + level, below);
      sync.add(below.path().toString());
    }
    // the files' blocks settled first: a range the kernel has yet to write back can seek as a
    // hole for the tool that looks first and as data for the next (QEMU looks into the host file
    // of an image that seems metadata-preallocated), and it counts in the disk size either way
    SoakCampaign.qemu(sync.toArray(String[]::new));
    Layer top = below;
    String image = top.path().toString();
    List<List<String>> commands = new ArrayList<>();
    commands.add(List.of("info", image));
    commands.add(List.of("info", "--output=json", image));
    commands.add(List.of("info", "--backing-chain", image));
    commands.add(List.of("info", "--backing-chain", "--output=json", image));
    commands.add(List.of("map", image));
    commands.add(List.of("map", "--output=json", image));
    commands.add(List.of("check", image));
    commands.add(List.of("check", "--output=json", image));
    if (random.nextInt(3) == 0) {
      // a window of the map (start and length in bytes, sometimes unaligned or past the end)
      long start = random.nextInt(4) == 0 ? random.nextLong(top.size() + 1) : random.nextLong(top.size() / 512 + 1) * 512;
      long length = random.nextInt(4) == 0 ? random.nextLong(1L << 40) : random.nextLong(64 * MIB);
      String output = random.nextBoolean() ? "--output=json" : "--output=human";
      commands.add(List.of("map", output, "-s", Long.toString(start), "-l", Long.toString(length), image));
    }
    if (depth > 0 && random.nextBoolean()) {
      // a layer below, on its own
      Path lower = dir.resolve("l" + random.nextInt(depth) + ".qcow2");
      if (java.nio.file.Files.exists(lower)) {
        commands.add(List.of("info", "--output=json", lower.toString()));
        commands.add(List.of("map", lower.toString()));
        commands.add(List.of("check", lower.toString()));
      }
    }
    if (random.nextBoolean()) {
      // the format named: no probing, and the backing chain's formats as recorded
      for (int i = 0; i < commands.size(); i++) {
        List<String> named = new ArrayList<>(commands.get(i));
        named.add(1, "-f");
        named.add(2, "qcow2");
        commands.set(i, named);
      }
    }
    StringBuilder differences = new StringBuilder();
    for (List<String> command : commands) {
      List<String> qemu = new ArrayList<>(List.of("qemu-img"));
      qemu.addAll(command);
      Cli.Result theirs = normalize(Qemu.run(qemu.toArray(String[]::new)));
      Cli.Result ours = normalize(Cli.run(command.toArray(String[]::new)));
      if (theirs.exitCode() != ours.exitCode() || !theirs.out().equals(ours.out())
          || !theirs.err().equals(ours.err())) {
        differences.append("\n").append(String.join(" ", command)).append(" differs\nqemu: ").append(theirs)
            .append("\nours: ").append(ours).append('\n');
      }
    }
    if (!differences.isEmpty()) {
      fail("seed=" + seed + ": " + top + differences);
    }
  }

  private static Layer rawBase(Random random, Path dir) {
    Path path = dir.resolve("base.raw");
    long size = (1 + random.nextLong(16 * MIB / 512)) * 512;
    SoakCampaign.qemu("qemu-img", "create", "-q", "-f", "raw", path.toString(), Long.toString(size));
    Layer layer = new Layer(path, "raw", size, 512, false, 0, false, false);
    fill(random, layer, 1 + random.nextInt(6), false);
    return layer;
  }

  private static Layer qcow2(Random random, Path dir, String name, Layer backing) {
    boolean v3 = random.nextInt(5) != 0;
    long clusterSize = 1L << (9 + random.nextInt(13));
    int refcountBits = v3 ? REFCOUNT_BITS[random.nextInt(REFCOUNT_BITS.length)] : 16;
    boolean extendedL2 = v3 && clusterSize >= 16 * KIB && random.nextInt(4) == 0;
    boolean lazy = v3 && random.nextInt(6) == 0;
    StringBuilder options = new StringBuilder("cluster_size=" + clusterSize);
    options.append(",compat=").append(v3 ? "1.1" : "0.10");
    if (v3) {
      options.append(",refcount_bits=").append(refcountBits);
      if (extendedL2) {
        options.append(",extended_l2=on");
      }
      if (lazy) {
        options.append(",lazy_refcounts=on");
      }
      if (random.nextInt(3) == 0) {
        options.append(",compression_type=").append(random.nextBoolean() ? "zlib" : "zstd");
      }
    }
    long size;
    int shape = random.nextInt(10);
    if (backing != null && shape < 4) {
      size = -1;
    } else if (shape < 7 || clusterSize < 64 * KIB) {
      // (a disk of tens of GiB in clusters under 64 KiB has millions of L2 tables to walk: qemu-img
      // map takes minutes over such a chain, qcow4j longer still; left out)
      size = (1 + random.nextLong(16 * MIB / 512)) * 512;
    } else {
      size = (1 + random.nextLong((64L << 30) / 512)) * 512;
    }
    if (backing == null && random.nextInt(8) == 0) {
      options.append(",preallocation=").append(new String[] {"metadata", "falloc", "full"}[random.nextInt(3)]);
      size = Math.min(size, 8 * MIB);
    }
    Path path = dir.resolve(name + ".qcow2");
    List<String> create = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2", "-o", options.toString()));
    if (backing != null) {
      create.addAll(List.of("-b", backing.path().toString(), "-F", backing.format()));
    }
    create.add(path.toString());
    if (size >= 0) {
      create.add(Long.toString(size));
    } else {
      size = backing.size();
    }
    SoakCampaign.qemu(create.toArray(String[]::new));
    Layer layer = new Layer(path, "qcow2", size, clusterSize, v3, refcountBits, extendedL2, lazy);
    fill(random, layer, random.nextInt(10), false);
    // internal snapshots (each takes a second reference, which a 1-bit refcount cannot hold)
    // (not on a huge table: QEMU's snapshot of a 60 GB disk of 512-byte clusters takes minutes)
    boolean smallTables = size / clusterSize <= 1L << 22;
    if (refcountBits > 1 && smallTables && random.nextInt(3) == 0) {
      int snapshots = 1 + random.nextInt(3);
      for (int i = 0; i < snapshots; i++) {
        SoakCampaign.qemu("qemu-img", "snapshot", "-c", "snap" + i, path.toString());
        fill(random, layer, random.nextInt(5), false);
      }
      if (random.nextInt(3) == 0) {
        SoakCampaign.qemu("qemu-img", "snapshot", "-d", "snap" + random.nextInt(snapshots), path.toString());
      }
    }
    if (v3 && smallTables && random.nextInt(3) == 0) {
      int bitmaps = 1 + random.nextInt(3);
      for (int i = 0; i < bitmaps; i++) {
        List<String> add = new ArrayList<>(List.of("qemu-img", "bitmap", "--add"));
        if (random.nextBoolean()) {
          add.addAll(List.of("-g", Long.toString(1L << (9 + random.nextInt(15)))));
        }
        if (random.nextInt(4) == 0) {
          add.add("--disable");
        }
        add.addAll(List.of(path.toString(), "bm" + i));
        SoakCampaign.qemu(add.toArray(String[]::new));
      }
      fill(random, layer, random.nextInt(4), false);
      if (random.nextInt(4) == 0) {
        SoakCampaign.qemu("qemu-img", "bitmap", "--clear", path.toString(), "bm0");
      }
    }
    if (lazy ? random.nextBoolean() : random.nextInt(12) == 0) {
      // left unclosed: qemu-io aborts before it writes its caches back (a lazy-refcounts image is
      // left dirty; another may be left with leaks or worse, for check to find)
      fill(random, layer, 1 + random.nextInt(4), true);
    }
    return layer;
  }

  /** Random offset and length (whole sectors) inside {@code size}. */
  private static long[] range(Random random, long size, long maxLength, long clusterSize) {
    long window = Math.min(size, 32 * MIB);
    // near the start or, on a large disk, near its end
    long base = size > window && random.nextInt(3) == 0 ? (size - window) / 512 * 512 : 0;
    long offset = base + random.nextLong(window / 512) * 512;
    long length = Math.min(size - offset, (1 + random.nextLong(Math.max(1, maxLength / 512))) * 512);
    if (random.nextInt(3) == 0) {
      offset = offset / clusterSize * clusterSize;
      length = Math.min(size - offset, Math.max(clusterSize, length / clusterSize * clusterSize));
    }
    return new long[] {offset, Math.max(512, length)};
  }

  /** Writes {@code count} random requests into the image with the real qemu-io; {@code abort}: left unclosed. */
  private static void fill(Random random, Layer layer, int count, boolean abort) {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", layer.format()));
    long size = layer.size();
    long clusterSize = layer.format().equals("qcow2") ? layer.clusterSize() : 64 * KIB;
    for (int i = 0; i < count && size >= 512; i++) {
      int kind = random.nextInt(10);
      long maxLength = random.nextInt(4) == 0 ? 4 * MIB : 256 * KIB;
      long[] r = range(random, size / 512 * 512, maxLength, clusterSize);
      if (r[0] + r[1] > size) {
        continue;
      }
      command.add("-c");
      if (kind <= 4) {
        command.add("write -P " + PATTERN_BYTES[random.nextInt(PATTERN_BYTES.length)] + " " + r[0] + " " + r[1]);
      } else if (kind <= 6) {
        command.add("write -z" + (random.nextBoolean() ? " -u" : "") + " " + r[0] + " " + r[1]);
      } else if (kind <= 7 || !layer.format().equals("qcow2") || clusterSize < 4096 || layer.extendedL2()) {
        // (QEMU 7.2's compressed writes into clusters under 4 KiB, or with extended L2 entries,
        // can mark the image corrupt: left out)
        command.add("discard " + r[0] + " " + r[1]);
      } else {
        long clusters = size / clusterSize;
        if (clusters == 0) {
          command.removeLast();
          continue;
        }
        long first = random.nextLong(Math.min(clusters, Math.max(1, 32 * MIB / clusterSize)));
        long n = Math.min(clusters - first, 1 + random.nextInt(4));
        command.add("write -c -P " + PATTERN_BYTES[random.nextInt(PATTERN_BYTES.length - 1)] + " " + first * clusterSize
            + " " + n * clusterSize);
      }
    }
    if (abort) {
      command.addAll(List.of("-c", "abort"));
    }
    if (command.size() > 3) {
      command.add(layer.path().toString());
      SoakCampaign.logCommand(command.toArray(String[]::new));
      Cli.Result result = Qemu.run(command.toArray(String[]::new));
      // a compressed write over an allocated cluster fails in QEMU ("write failed: Input/output
      // error" on stdout), the other requests stand; what QEMU reports on stderr (an image it
      // marked corrupt...) skips the round
      if (!result.err().isEmpty()) {
        throw new SoakCampaign.QemuInputFailure("qemu-io failed: " + String.join(" ", command) + "\n" + result);
      }
    }
  }

  private static Cli.Result normalize(Cli.Result result) {
    return new Cli.Result(result.exitCode(), result.out(), result.err().replaceAll("(?m)^qemu-img: ", "qcow4j: "));
  }
}
