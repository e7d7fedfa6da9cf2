package io.qcow4j.cli.serve;

import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_FLUSH;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_TRIM;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_WRITE;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_WRITE_ZEROES;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_FUA;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_NO_HOLE;

import io.qcow4j.nbd.testkit.PipelinedNbdClient.Reply;
import io.qcow4j.nbd.testkit.PipelinedNbdClient.Request;
import java.util.ArrayList;
import java.util.List;

/** Every request a workload sent, across its connections, with the sequence number of each write's tags. */
final class WorkloadLog {
  /** One request sent; {@code seq} is the tag sequence of a write, 0 for other commands. */
  record Entry(Request request, long seq) {
    int type() {
      return request.type();
    }

    boolean modifies() {
      return type() == CMD_WRITE || type() == CMD_TRIM || type() == CMD_WRITE_ZEROES;
    }

    boolean acked() {
      return request.succeeded();
    }

    long ackTick() {
      Reply reply = request.replyNow();
      return reply == null ? Long.MAX_VALUE : reply.ackTick();
    }

    @Override
    public String toString() {
      String name = switch (type()) {
        case CMD_WRITE -> "WRITE";
        case CMD_TRIM -> "TRIM";
        case CMD_WRITE_ZEROES -> request.has(FLAG_NO_HOLE) ? "WRITE_ZEROES(NO_HOLE)" : "WRITE_ZEROES";
        case CMD_FLUSH -> "FLUSH";
        default -> "command " + type();
      };
      Reply reply = request.replyNow();
      return name + (request.has(FLAG_FUA) ? "+FUA" : "")
          + (type() == CMD_FLUSH ? "" : " 0x" + Long.toHexString(request.offset()) + "+" + request.length())
          + (seq != 0 ? " seq " + seq : "") + " sent@" + request.sendTick()
          + (reply == null ? " unanswered" : reply.error() != 0 ? " error " + reply.error() : " acked@" + reply.ackTick());
    }
  }

  private final List<Entry> entries = new ArrayList<>();

  synchronized void add(Request request, long seq) {
    entries.add(new Entry(request, seq));
  }

  synchronized List<Entry> entries() {
    return List.copyOf(entries);
  }

  synchronized int size() {
    return entries.size();
  }
}
