package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Where new clusters land, side by side with qemu-img and qemu-io: the same commands on images made
 * the same way must map every guest range to the same host offset, and leave images that qemu-img
 * check finds equally clean.
 */
class AllocationPlacementTest {

  /**
   * Clusters freed by a discard are handed out again by the next allocating write, as QEMU's
   * allocator does (its free cluster index goes back to a cluster the moment its refcount reaches
   * zero), not only after a flush; iotest 250 is the first case. Each line: create options, size,
   * the setup (qemu-img arguments, or none) and the qemu-io commands, run once one per process and
   * once all in one process, with cache=writeback as the iotests run qemu-io (writethrough would
   * flush after each command).
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      // iotest 250, smaller: the first discarded range takes the write at the end, and so on
      "cluster_size=64k,preallocation=metadata | 20M | | discard 0 1M; discard 19M 1M; write 19M 1M; write 0 1M",
      // reused in the same open, below data written after the discard
      "cluster_size=64k | 4M | | write 0 2M; discard 512k 512k; write 3M 256k; write 2M 1M",
      // a discard that empties no cluster (a snapshot still holds them) allocates at the end
      "cluster_size=64k | 4M | snapshot -c s1 | write 0 1M; discard 0 512k; write 2M 64k; write 1088k 64k",
      // in-place writes between the discard and the reuse
      "cluster_size=4k | 1M | | write 0 256k; discard 64k 64k; write 0 4k; write 512k 128k",
      // a new L2 table goes into a freed cluster
      "cluster_size=4k | 64M | | write 0 64k; discard 0 64k; write 32M 4k",
      // a partial rewrite of a compressed cluster frees its bytes
      "cluster_size=64k | 4M | | write -c 0 64k; write -c 64k 64k; write 0 4k; write 64k 4k; write 1M 64k",
  })
  void freedClustersAreReusedAtOnceLikeQemu(String options, String size, String setup, String commands) {
    String[] lines = commands.split("; ");
    for (boolean oneProcess : new boolean[] {false, true}) {
      SideBySide both = new SideBySide();
      both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "@/image.qcow2", size).same();
      if (setup != null) {
        both.run("qemu-img", (setup + " @/image.qcow2").split(" ")).same();
      }
      if (oneProcess) {
        String[] args = new String[lines.length * 2 + 5];
        int index = 0;
        args[index++] = "-t";
        args[index++] = "writeback";
        args[index++] = "-f";
        args[index++] = "qcow2";
        for (String line : lines) {
          args[index++] = "-c";
          args[index++] = line;
        }
        args[index] = "@/image.qcow2";
        both.run("qemu-io", args).same();
      } else {
        for (String line : lines) {
          both.run("qemu-io", "-t", "writeback", "-f", "qcow2", "-c", line, "@/image.qcow2").same();
        }
      }
      both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
      assertThat(both.run("qemu-img", "check", "@/image.qcow2").same().ours().out()).contains("No errors were found");
    }
  }

  /**
   * A write's clusters that need new host clusters get one contiguous host run, as QEMU 7.2's
   * qcow2_alloc_host_offset gives it (handle_alloc): the partial head and tail clusters together
   * with the whole ones between, so a freed hole shorter than the run is passed over; after an
   * in-place cluster the run goes right behind its host cluster when that one is free
   * (qcow2_alloc_clusters_at), else where the allocator finds it (iotest 271's host offsets).
   * Each line: create options, size, and the qemu-io commands, each in its own process.
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      // a partial head, two whole clusters and a partial tail skip a one-cluster hole
      "cluster_size=64k | 4M | write 0 1M; discard 64k 64k; write 1056k 192k; write 2M 64k",
      // the same with subclusters, and a head that starts inside a subcluster
      "cluster_size=64k,extended_l2=on | 4M | write 0 1M; discard 64k 64k; write 1057k 190k; write 2M 3k",
      // a write inside one cluster takes the hole; one over two partial clusters does not
      "cluster_size=64k | 4M | write 0 512k; discard 128k 64k; write 1M 4k; write 2M 4k; discard 1M 64k; write 1060k 100k",
      // an in-place cluster followed by one to allocate: right behind its host cluster when free
      "cluster_size=64k | 4M | write 0 64k; write 1M 64k; write 2M 64k; write 3M 64k; discard 1M 64k; discard 3M 64k; write 2M 128k",
      // ... and elsewhere when the cluster behind it is taken
      "cluster_size=64k | 4M | write 0 64k; write 1M 64k; write 2M 64k; discard 1M 64k; write 2M 200k",
      // small clusters: runs across an L2 table boundary
      "cluster_size=4k | 16M | write 0 64k; discard 8k 8k; discard 32k 4k; write 2046k 12k; write 1M 6k",
      "cluster_size=16k,extended_l2=on | 32M | write 0 256k; discard 32k 32k; write 16381k 6k; write 20k 40k",
      // compressed clusters, freed and packed again
      "cluster_size=64k | 4M | write -c 0 64k; write -c 64k 64k; discard 0 128k; write -c 256k 64k; write 300k 100k",
  })
  void writesAllocateOneHostRunLikeQemu(String options, String size, String commands) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "@/image.qcow2", size).same();
    for (String line : commands.split("; ")) {
      both.run("qemu-io", "-f", "qcow2", "-c", line, "@/image.qcow2").same();
    }
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "map", "@/image.qcow2").same();
    assertThat(both.run("qemu-img", "check", "@/image.qcow2").same().ours().out()).contains("No errors were found");
  }

  /**
   * Copy-on-write of a cluster with subclusters that moves to a new host cluster (here: shared with
   * a snapshot) takes along every subcluster from the first allocated (or written) one to the last,
   * as QEMU's calculate_l2_meta: they are copied as they read and all become allocated (iotest 271).
   */
  @ParameterizedTest
  @CsvSource({"30k 1k", "20k 1k", "40k 1k", "26k 1k", "14k 1k", "1k 1k", "60k 8k", "0 64k"})
  void copyOnWriteTakesAlongSubclustersLikeQemu(String write) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "@/image.qcow2", "1M").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write -q -z 14k 2k", "-c", "write -q -P 0xd0 26k 2k",
        "-c", "write -q -P 0xe0 36k 2k", "-c", "write -q -P 0xd1 64k 64k", "@/image.qcow2").same();
    both.run("qemu-img", "snapshot", "-c", "snap1", "@/image.qcow2").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write -q -P 0xf0 " + write, "@/image.qcow2").same();
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
    both.run("qemu-img", "compare", "@/image.qcow2", "@/image.qcow2").same();
    assertThat(both.run("qemu-img", "check", "@/image.qcow2").same().ours().out()).contains("No errors were found");
  }

  /**
   * Preallocation at create leaves the subclusters of an extended-L2 image unallocated, as QEMU's
   * preallocate_co does: the clusters have host offsets, but read from the backing file until
   * written (iotest 271).
   */
  @ParameterizedTest
  @CsvSource({"metadata, true", "falloc, true", "full, true", "metadata, false", "falloc, false", "full, false"})
  void preallocatedSubclustersStayUnallocatedLikeQemu(String preallocation, boolean backing) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/base.raw", "1M").same();
    both.run("qemu-io", "-f", "raw", "-c", "write -q -P 0xff 0 1M", "@/base.raw").same();
    if (backing) {
      both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,preallocation=" + preallocation,
          "-F", "raw", "-b", "@/base.raw", "@/image.qcow2", "512k").same();
    } else {
      both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,preallocation=" + preallocation,
          "@/image.qcow2", "512k").same();
    }
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "read -q -P " + (backing ? "0xff" : "0") + " 0 512k",
        "-c", "write -q -P 1 4k 2k", "-c", "read -q -P 1 4k 2k", "@/image.qcow2").same();
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
  }

  /**
   * qemu-img convert -S: inside data, zero runs of at least that many bytes are left out, and the
   * runs written and left out end at multiples of -S rounded down to a power of two, as qemu-img's
   * is_allocated_sectors_min cuts them (iotest 122: 1 KiB clusters and -S 4k give 4 KiB runs).
   */
  @ParameterizedTest
  @CsvSource({
      "qcow2, cluster_size=1k, 4k", "qcow2, cluster_size=1k, 8k", "qcow2, cluster_size=1k, 3k",
      "qcow2, cluster_size=1k, 512", "qcow2, cluster_size=64k, 4k", "qcow2, cluster_size=4k, 16k",
      "qcow2, 'cluster_size=64k,extended_l2=on', 4k", "raw, '', 4k", "raw, '', 8k", "raw, '', 1536",
  })
  void convertSparseRunsLikeQemuImg(String format, String options, String sparse) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=1k", "@/source.qcow2", "1M").same();
    for (String write : new String[] {"write -P 0 0 64k", "write 0 1k", "write 8k 1k", "write 17k 1k",
        "write -P 0 65k 1k", "write 100k 512", "write 109k 512", "write 200k 3k", "write -P 0 300k 64k",
        "write 330k 512"}) {
      both.run("qemu-io", "-f", "qcow2", "-c", write, "@/source.qcow2").same();
    }
    String[] convert = options.isEmpty()
        ? new String[] {"convert", "-O", format, "-S", sparse, "@/source.qcow2", "@/target"}
        : new String[] {"convert", "-O", format, "-o", options, "-S", sparse, "@/source.qcow2", "@/target"};
    both.run("qemu-img", convert).same();
    both.run("qemu-img", "map", "--output=json", "-f", format, "@/target").same();
    both.run("qemu-img", "compare", "-f", "qcow2", "-F", format, "@/source.qcow2", "@/target").same();
    if (format.equals("qcow2")) {
      // into an existing image (-n): the runs left out are zeroed
      both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "@/existing.qcow2", "1M").same();
      both.run("qemu-io", "-f", "qcow2", "-c", "write -P 7 0 1M", "@/existing.qcow2").same();
      both.run("qemu-img", "convert", "-n", "-O", "qcow2", "-S", sparse, "@/source.qcow2", "@/existing.qcow2").same();
      both.run("qemu-img", "map", "--output=json", "@/existing.qcow2").same();
    }
  }

  /**
   * A partial write into a fresh cluster zeroes the rest of the touched (sub)clusters on the host,
   * as QEMU's handle_alloc_space does with fallocate, and create writes the whole header cluster:
   * the file's size and allocation are QEMU's, so block status (which looks into the host file of
   * an image that seems metadata-preallocated) reports the same extents.
   */
  @ParameterizedTest
  @CsvSource({"cluster_size=64k", "'cluster_size=64k,extended_l2=on'", "cluster_size=4k"})
  void partialWritesOfFreshClustersLikeQemu(String options) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "@/image.qcow2", "1M").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write 0 4k", "-c", "write 200k 4k", "-c", "write 300k 1k",
        "@/image.qcow2").same();
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
    assertThat(both.ours.resolve("image.qcow2").toFile().length()).as("file size")
        .isEqualTo(both.theirs.resolve("image.qcow2").toFile().length());
  }

  /**
   * Write-zeroes over compressed clusters (iotest 271): a compressed cluster that would be zeroed in
   * part fails the whole request, which is then written as zero bytes; clusters it covers whole are
   * not left with zero flags before that.
   */
  @ParameterizedTest
  @CsvSource({"'cluster_size=64k,extended_l2=on', write -z 96k 128k", "'cluster_size=64k,extended_l2=on', write -z 63k 129k",
      "cluster_size=64k, write -z 32k 128k",
      "'cluster_size=64k,extended_l2=on', write -z -u 96k 128k"})
  void zeroingOverCompressedClustersLikeQemu(String options, String zero) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "@/image.qcow2", "1M").same();
    for (int cluster = 0; cluster < 5; cluster++) {
      both.run("qemu-io", "-f", "qcow2", "-c", "write -c -P " + (cluster + 1) + " " + cluster * 64 + "k 64k",
          "@/image.qcow2").same();
    }
    both.run("qemu-io", "-f", "qcow2", "-c", zero, "@/image.qcow2").same();
    both.run("qemu-img", "map", "--output=json", "@/image.qcow2").same();
    both.run("qemu-img", "compare", "@/image.qcow2", "@/image.qcow2").same();
  }
}
