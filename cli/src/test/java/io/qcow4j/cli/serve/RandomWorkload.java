package io.qcow4j.cli.serve;

import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_FUA;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_NO_HOLE;

import io.qcow4j.nbd.testkit.PipelinedNbdClient;
import io.qcow4j.nbd.testkit.RangeReservations;
import io.qcow4j.nbd.testkit.SectorTag;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Random pipelined requests on several connections at once, one sending thread per connection:
 * tagged writes (some FUA), trims and write-zeroes (with and without NO_HOLE) that are cluster
 * aligned or not, and flushes, mostly in a hot region so that requests overlap, the rest anywhere
 * so that new clusters are allocated. Requests on the same clusters wait for each other, the rest
 * stay in flight together: qemu-nbd 7.2 with --discard=unmap corrupts images (refcount=1
 * reference=2) when writes, trims and NO_HOLE write-zeroes of one cluster race, even without a
 * kill, and same-cluster races are the concurrent model test's job. Sending stops when the
 * connection dies or {@link #stop} is called.
 */
final class RandomWorkload {
  private static final int MAX_WRITE = 2 << 20;

  private final long size;
  private final int clusterSize;
  private final long tagSeed;
  private final long randomSeed;
  private final AtomicLong seqs;
  private final WorkloadLog log;
  private final RangeReservations reservations;
  private final long hotStart;
  private final long hotLength;
  private final List<Thread> senders = new ArrayList<>();
  private final List<Throwable> failures = new ArrayList<>();
  private volatile boolean stopping;

  /** Tags carry {@code tagSeed}; the requests are drawn from {@code randomSeed}. */
  RandomWorkload(long size, int clusterSize, long tagSeed, long randomSeed, AtomicLong seqs, WorkloadLog log) {
    this.size = size;
    this.clusterSize = clusterSize;
    this.tagSeed = tagSeed;
    this.randomSeed = randomSeed;
    this.seqs = seqs;
    this.log = log;
    this.reservations = new RangeReservations(clusterSize);
    Random random = new Random(randomSeed);
    this.hotLength = Math.min(size, Math.max(8L * clusterSize, 512 << 10));
    this.hotStart = (random.nextLong(size - hotLength + 1)) / clusterSize * clusterSize;
  }

  /** Starts one sending thread per client, each with its own random stream derived from the seed. */
  void start(List<PipelinedNbdClient> clients) {
    for (int i = 0; i < clients.size(); i++) {
      PipelinedNbdClient client = clients.get(i);
      Random random = new Random(randomSeed * 31 + i);
      Thread sender = Thread.ofPlatform().name("workload-" + i).start(() -> send(client, random));
      senders.add(sender);
    }
  }

  private void send(PipelinedNbdClient client, Random random) {
    try {
      while (!stopping) {
        sendOne(client, random);
      }
    } catch (IOException e) {
      // The server is gone: what was sent is in the log.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | Error e) {
      synchronized (failures) {
        failures.add(e);
      }
    }
  }

  private void sendOne(PipelinedNbdClient client, Random random) throws IOException, InterruptedException {
    int choice = random.nextInt(100);
    if (choice < 10) {
      log.add(client.flush(), 0);
      return;
    }
    long[] range = range(random);
    long offset = range[0];
    long length = choice < 55 ? Math.min(range[1], MAX_WRITE) : range[1];
    int fua = random.nextInt(100) < 15 ? FLAG_FUA : 0;
    int noHole = random.nextBoolean() ? FLAG_NO_HOLE : 0;
    long seq = choice < 55 ? seqs.incrementAndGet() : 0;
    byte[] data = choice < 55 ? SectorTag.data(offset, (int) length, seq, tagSeed) : null;
    reservations.acquire(offset, length);
    PipelinedNbdClient.Request request;
    try {
      if (choice < 55) {
        request = client.write(offset, data, fua);
      } else if (choice < 75) {
        request = client.trim(offset, length, fua);
      } else {
        request = client.writeZeroes(offset, length, fua | noHole);
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      reservations.release(offset, length);
      throw e;
    }
    request.reply().whenComplete((reply, failure) -> reservations.release(offset, length));
    log.add(request, seq);
  }

  /** An offset and length, 512-byte aligned and inside the disk: small, whole clusters, or medium. */
  private long[] range(Random random) {
    boolean hot = random.nextInt(100) < 60;
    long areaStart = hot ? hotStart : 0;
    long areaLength = hot ? hotLength : size;
    int shape = random.nextInt(100);
    long offset;
    long length;
    if (shape < 50) {
      offset = areaStart + random.nextLong(areaLength / SectorTag.SECTOR) * SectorTag.SECTOR;
      length = (1 + random.nextInt(16)) * (long) SectorTag.SECTOR;
    } else if (shape < 85) {
      offset = areaStart + random.nextLong(areaLength / clusterSize) * clusterSize;
      length = (1 + random.nextInt(4)) * (long) clusterSize;
    } else {
      offset = areaStart + random.nextLong(areaLength / SectorTag.SECTOR) * SectorTag.SECTOR;
      length = (1 + random.nextInt(512)) * (long) SectorTag.SECTOR;
    }
    return new long[] {offset, Math.min(length, size - offset)};
  }

  /** Requests sent so far, on all connections. */
  int sent() {
    return log.size();
  }

  /** Asks the senders to stop and waits for them; throws what a sender failed with. */
  void stop() throws InterruptedException {
    stopping = true;
    for (Thread sender : senders) {
      sender.join();
    }
    synchronized (failures) {
      if (!failures.isEmpty()) {
        AssertionError error = new AssertionError("a workload sender failed", failures.getFirst());
        failures.stream().skip(1).forEach(error::addSuppressed);
        throw error;
      }
    }
  }
}
