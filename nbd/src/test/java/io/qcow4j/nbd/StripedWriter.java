package io.qcow4j.nbd;

import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_READ;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_TRIM;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_WRITE;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_WRITE_ZEROES;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_FUA;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_NO_HOLE;

import io.qcow4j.nbd.testkit.PipelinedNbdClient;
import io.qcow4j.nbd.testkit.PipelinedNbdClient.Reply;
import io.qcow4j.nbd.testkit.PipelinedNbdClient.Request;
import io.qcow4j.nbd.testkit.RangeReservations;
import io.qcow4j.nbd.testkit.SectorTag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * One connection's random pipelined requests on its own stripes: tagged writes, write-zeroes with
 * and without NO_HOLE, trims, reads and flushes, some FUA. Its requests on the same sectors wait
 * for each other; each answer updates the shadow, and each read is checked against it.
 */
final class StripedWriter {
  private final int index;
  private final PipelinedNbdClient client;
  private final StripeLayout layout;
  private final SectorShadow shadow;
  private final AtomicLong seqs;
  private final long tagSeed;
  private final Consumer<String> problems;
  private final RangeReservations reservations = new RangeReservations(SectorTag.SECTOR);
  /** Completes once a request's answer has been applied to the shadow. */
  private final List<CompletableFuture<Reply>> answered = new ArrayList<>();

  StripedWriter(int index, PipelinedNbdClient client, StripeLayout layout, SectorShadow shadow, AtomicLong seqs,
      long tagSeed, Consumer<String> problems) {
    this.index = index;
    this.client = client;
    this.layout = layout;
    this.shadow = shadow;
    this.seqs = seqs;
    this.tagSeed = tagSeed;
    this.problems = problems;
  }

  /** Sends {@code count} requests drawn from {@code random}, then waits until every answer is in the shadow. */
  void run(int count, Random random) throws IOException, InterruptedException {
    for (int i = 0; i < count; i++) {
      int choice = random.nextInt(100);
      if (choice < 4) {
        Request flush = client.flush();
        answered.add(flush.reply().whenComplete((reply, failure) -> checkAnswered(flush, reply, failure)));
        continue;
      }
      long[] range = layout.range(index, random);
      long offset = range[0];
      long length = range[1];
      int fua = random.nextInt(100) < 10 ? FLAG_FUA : 0;
      reservations.acquire(offset, length);
      Request request;
      long seq = 0;
      try {
        if (choice < 45) {
          seq = seqs.incrementAndGet();
          request = client.write(offset, SectorTag.data(offset, (int) length, seq, tagSeed), fua);
        } else if (choice < 60) {
          request = client.writeZeroes(offset, length, fua | (random.nextBoolean() ? FLAG_NO_HOLE : 0));
        } else if (choice < 72) {
          request = client.trim(offset, length, fua);
        } else {
          request = client.read(offset, (int) length);
        }
      } catch (IOException | InterruptedException | RuntimeException e) {
        reservations.release(offset, length);
        throw e;
      }
      long written = seq;
      answered.add(request.reply().whenComplete((reply, failure) -> {
        try {
          if (checkAnswered(request, reply, failure)) {
            apply(request, reply, written);
          }
        } finally {
          reservations.release(offset, length);
        }
      }));
    }
    for (CompletableFuture<Reply> each : answered) {
      each.exceptionally(failure -> null).join();
    }
  }

  private boolean checkAnswered(Request request, Reply reply, Throwable failure) {
    if (failure != null) {
      problems.accept("connection " + index + ": " + describe(request) + " not answered: " + failure);
      return false;
    }
    if (reply.error() != 0) {
      problems.accept("connection " + index + ": " + describe(request) + " answered error " + reply.error());
      return false;
    }
    return true;
  }

  private void apply(Request request, Reply reply, long seq) {
    int first = (int) (request.offset() / SectorTag.SECTOR);
    int count = (int) (request.length() / SectorTag.SECTOR);
    for (int i = 0; i < count; i++) {
      int sector = first + i;
      switch (request.type()) {
        case CMD_WRITE -> shadow.write(sector, seq, by(request, seq));
        case CMD_WRITE_ZEROES -> shadow.zero(sector, by(request, 0));
        case CMD_TRIM -> shadow.trim(sector, by(request, 0));
        case CMD_READ -> {
          SectorTag.Content content = SectorTag.decode(ByteBuffer.wrap(reply.data()).position(i * SectorTag.SECTOR));
          long found = content.kind() == SectorTag.Kind.ZEROES ? 0
              : content.is((long) sector * SectorTag.SECTOR, tagSeed) ? content.seq() : -1;
          String wrong = shadow.observe(sector, found);
          if (wrong != null) {
            problems.accept("connection " + index + ": read of sector 0x" + Long.toHexString((long) sector * 512)
                + " found " + content + ", " + wrong);
          }
        }
        default -> throw new IllegalStateException("no shadow for " + describe(request));
      }
    }
  }

  private String by(Request request, long seq) {
    return describe(request) + (seq != 0 ? " seq " + seq : "") + " on connection " + index + ", sent@"
        + request.sendTick() + " acked@" + request.replyNow().ackTick();
  }

  private static String describe(Request request) {
    String name = switch (request.type()) {
      case CMD_WRITE -> "WRITE";
      case CMD_WRITE_ZEROES -> request.has(FLAG_NO_HOLE) ? "WRITE_ZEROES(NO_HOLE)" : "WRITE_ZEROES";
      case CMD_TRIM -> "TRIM";
      case CMD_READ -> "READ";
      default -> "FLUSH";
    };
    return name + (request.has(FLAG_FUA) ? "+FUA" : "") + " 0x" + Long.toHexString(request.offset()) + "+"
        + request.length();
  }
}
