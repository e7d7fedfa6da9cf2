package io.qcow4j.cli.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.nbd.testkit.GuestContent;
import io.qcow4j.nbd.testkit.ImageShape;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import io.qcow4j.nbd.testkit.PipelinedNbdClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Rounds of: serve an image of one shape, run a random pipelined workload on several connections,
 * SIGKILL the server after a random number of requests, then check the image with qemu-img and
 * every sector against the durability model. The next round serves the killed image again (or a
 * new one, after qemu-nbd's known flaws left data of other offsets in it).
 */
final class KillCampaign {
  static final long DISK_SIZE = 32 << 20;
  private static final Duration STALL = Duration.ofSeconds(60);

  private final ImageShape shape;
  private final NbdServerProcess.Kind kind;
  private final long seed;
  private final Path dir;

  KillCampaign(ImageShape shape, NbdServerProcess.Kind kind, long seed, Path dir) {
    this.shape = shape;
    this.kind = kind;
    this.seed = seed;
    this.dir = dir;
  }

  void run(int rounds) throws Exception {
    Random random = new Random(seed);
    AtomicLong seqs = new AtomicLong();
    Path image = dir.resolve(shape.name().toLowerCase() + ".qcow2");
    GuestContent content = null;
    GuestContent backing = null;
    for (int round = 0; round < rounds; round++) {
      if (content == null) {
        content = GuestContent.random(DISK_SIZE, random, seqs);
        backing = shape.hasBacking() ? content : GuestContent.zeros(DISK_SIZE);
        newImage(content, image);
      }
      String context = "seed " + seed + " shape " + shape + " server " + kind + " round " + round;
      int connections = 1 + random.nextInt(3);
      int depth = 2 + random.nextInt(31);
      int killAfter = 30 + random.nextInt(600);
      WorkloadLog log = new WorkloadLog();
      long started = System.nanoTime();
      try (NbdServerProcess server = NbdServerProcess.start(kind, image, dir.resolve("nbd.sock"))) {
        AtomicLong clock = new AtomicLong();
        List<PipelinedNbdClient> clients = new ArrayList<>();
        try {
          for (int i = 0; i < connections; i++) {
            clients.add(PipelinedNbdClient.connect(server.address(), clock, depth));
          }
          if (connections > 1) {
            assertThat(clients.getFirst().transmissionFlags() & PipelinedNbdClient.FLAG_CAN_MULTI_CONN)
                .as("%s: several connections need NBD_FLAG_CAN_MULTI_CONN", context).isNotZero();
          }
          RandomWorkload workload = new RandomWorkload(DISK_SIZE, shape.clusterSize(), seed, random.nextLong(),
              seqs, log);
          workload.start(clients);
          long deadline = System.nanoTime() + STALL.toNanos();
          while (workload.sent() < killAfter && System.nanoTime() < deadline) {
            Thread.sleep(1);
          }
          int sentAtKill = workload.sent();
          server.kill();
          workload.stop();
          assertThat(sentAtKill).as("%s: requests sent before the kill (stalled?)\n%s", context, server.stderr())
              .isGreaterThanOrEqualTo(killAfter);
        } finally {
          for (PipelinedNbdClient client : clients) {
            client.close();
          }
        }
      }
      DurabilityModel model = new DurabilityModel(content, backing, log.entries());
      System.out.printf("%s: %d connections, depth %d, killed after %d requests (%s), %d ms%n", context,
          connections, depth, killAfter, model.summary(), (System.nanoTime() - started) / 1_000_000);
      content = KillVerdict.judge(context, kind, image, seed, shape.clusterSize(), model, log);
    }
  }

  /** Makes {@code image} of this campaign's shape holding {@code content} (replacing the last one). */
  private void newImage(GuestContent content, Path image) throws IOException, InterruptedException {
    try (var old = Files.list(dir)) {
      for (Path file : old.filter(path -> path.getFileName().toString().startsWith(image.getFileName().toString()))
          .toList()) {
        Files.delete(file);
      }
    }
    Path raw = dir.resolve("initial.raw");
    content.writeRaw(raw, seed);
    shape.create(raw, image);
    Files.delete(raw);
  }
}
