package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills {@code bin/qcow4j io} with SIGKILL in the middle of a long write workload, again and again:
 * each time qemu-img check finds no corruption (leaks are allowed), and every 4 KiB page holds one
 * pattern that was written to it or zeros, never stale bytes of another owner. (A killed process's
 * last write may stop at a page boundary, so a page, not a cluster, is the unit that stays whole.)
 * Every other round runs with cache=writeback, where discarded clusters are reused without a flush
 * command between.
 */
class KillDuringWritesIT {
  private static final int CLUSTER = 65536;
  private static final int CLUSTERS = 512;
  private static final int PAGE = 4096;

  @TempDir Path dir;

  @Test
  void sigkillNeverCorruptsTheImage() throws Exception {
    Path image = dir.resolve("killed.qcow2");
    Qemu.createQcow2(image, CLUSTERS * CLUSTER / 1024 + "k");
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    assertThat(tool).exists();
    long seed = System.nanoTime();
    Random random = new Random(seed);
    for (int round = 0; round < 6; round++) {
      List<String> command = new ArrayList<>(List.of(tool.toString(), "io"));
      if (round % 2 == 1) {
        // writeback: no flush after each command, so a discarded cluster is reused by a later
        // write in the same open (after the flush that write makes first), as QEMU reuses it
        command.addAll(List.of("-t", "writeback"));
      }
      for (int write = 0; write < 3000; write++) {
        int cluster = random.nextInt(CLUSTERS);
        int pattern = 1 + random.nextInt(254);
        String op = random.nextInt(10) == 0 ? "discard " + (long) cluster * CLUSTER + " " + CLUSTER
            : random.nextInt(10) == 0 ? "write -z " + (long) cluster * CLUSTER + " " + CLUSTER
            : "write -P " + pattern + " " + (long) cluster * CLUSTER + " " + CLUSTER;
        command.add("-c");
        command.add(op);
      }
      command.add(image.toString());
      Path log = dir.resolve("io-" + round + ".log");
      Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      // killed a random time after its first write: start-up (and a first run's cache training)
      // takes longer than the writes on a busy machine
      awaitFirstWrite(process, log);
      Thread.sleep(random.nextInt(1500));
      process.destroyForcibly();
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();

      Cli.Result check = Qemu.run("qemu-img", "check", image.toString());
      assertThat(check.exitCode()).as("seed %d round %d: qemu-img check\n%s%s", seed, round, check.out(), check.err())
          .isIn(0, 3);
      assertClustersWholeOrZero(image, seed, round);
    }
    // The workload really ran: the killed processes reported writes, and the image holds data.
    long reportedWrites = 0;
    for (int round = 0; round < 6; round++) {
      reportedWrites += Files.readAllLines(dir.resolve("io-" + round + ".log")).stream()
          .filter(line -> line.startsWith("wrote ")).count();
    }
    assertThat(reportedWrites).as("writes reported by the killed io processes").isPositive();
    assertThat(Qemu.check("qemu-img", "map", "--output=json", image.toString())).contains("\"data\": true");
    Cli.Result repaired = Cli.run("check", "-r", "all", image.toString());
    assertThat(Qemu.run("qemu-img", "check", image.toString()).exitCode()).as(repaired.out() + repaired.err()).isZero();
  }

  private static void awaitFirstWrite(Process process, Path log) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (process.isAlive() && System.nanoTime() < deadline) {
      if (Files.readString(log).contains("wrote ")) {
        return;
      }
      Thread.sleep(20);
    }
    if (!Files.readString(log).contains("wrote ")) {
      throw new AssertionError("the io process wrote nothing: " + Files.readString(log));
    }
  }

  private void assertClustersWholeOrZero(Path image, long seed, int round) throws IOException {
    Path raw = dir.resolve("killed.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
    try (FileChannel channel = FileChannel.open(raw, StandardOpenOption.READ)) {
      ByteBuffer cluster = ByteBuffer.allocate(CLUSTER);
      for (int index = 0; index < CLUSTERS; index++) {
        cluster.clear();
        channel.read(cluster, (long) index * CLUSTER);
        for (int page = 0; page < CLUSTER; page += PAGE) {
          byte first = cluster.get(page);
          for (int at = page + 1; at < page + PAGE; at++) {
            if (cluster.get(at) != first) {
              throw new AssertionError("seed " + seed + " round " + round + ": cluster " + index
                  + " mixes bytes " + first + " and " + cluster.get(at) + " at " + at);
            }
          }
        }
      }
    }
    Files.delete(raw);
  }
}
