package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.nbd.testkit.Commands;
import io.qcow4j.nbd.testkit.GuestContent;
import io.qcow4j.nbd.testkit.ImageReadback;
import io.qcow4j.nbd.testkit.ImageShape;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import io.qcow4j.nbd.testkit.PipelinedNbdClient;
import io.qcow4j.nbd.testkit.SectorTag;
import io.qcow4j.nbd.testkit.TestSeeds;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Several connections to the NBD server write, zero (with and without NO_HOLE), trim and read
 * their own stripes of the same clusters at once, over every image shape: every read, a read of the
 * whole disk at the end, and the image as qemu-img reads it after the server closed hold what the
 * shadow copy says, and qemu-img check finds the image clean. qemu-nbd runs the same workload, as a
 * check of the shadow model. QCOW4J_LONG=1 runs more requests and seeds.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SharedClustersModelTest {
  private static final long SIZE = 8 << 20;
  private static final int RUNS = TestSeeds.longRun() ? 5 : 1;
  private static final int REQUESTS = TestSeeds.longRun() ? 4000 : 400;
  private static final int PROBLEMS_SHOWN = 20;

  @TempDir Path dir;

  @ParameterizedTest
  @MethodSource("io.qcow4j.nbd.testkit.ImageShape#selected")
  void connectionsSharingClustersReadWhatTheyWrote(ImageShape shape) throws Exception {
    long seed = TestSeeds.seed();
    Random random = new Random(seed);
    for (int run = 0; run < RUNS; run++) {
      run(shape, false, seed, run, random);
    }
  }

  /** The same workload served by qemu-nbd: a check of the shadow model itself. */
  @ParameterizedTest
  @MethodSource("io.qcow4j.nbd.testkit.ImageShape#selected")
  void qemuNbdPassesTheSameModel(ImageShape shape) throws Exception {
    long seed = TestSeeds.seed();
    Random random = new Random(seed);
    for (int run = 0; run < RUNS; run++) {
      run(shape, true, seed, run, random);
    }
  }

  /** A running server: ours in this JVM, or qemu-nbd in its own process. */
  private record Served(SocketAddress address, NbdServer ours, NbdServerProcess qemu) {
    /** Stops the server cleanly: requests answered, the image flushed and closed. */
    void stop() throws Exception {
      if (ours != null) {
        ours.close();
      } else {
        assertThat(qemu.terminate()).as("qemu-nbd exit status after SIGTERM\n%s", qemu.stderr()).isZero();
      }
    }
  }

  private Served serve(Path image, boolean qemu) throws Exception {
    Path socket = dir.resolve("nbd.sock");
    if (qemu) {
      NbdServerProcess process = NbdServerProcess.start(NbdServerProcess.Kind.QEMU_NBD, image, socket);
      return new Served(process.address(), null, process);
    }
    NbdServer server = NbdServer.builder().disk(DiskImages.open(image, OpenOptions.readWriteDefaults()))
        .unixSocket(socket).maxClients(0).closeDiskOnStop(true).start();
    return new Served(server.address(), server, null);
  }

  private void run(ImageShape shape, boolean qemu, long seed, int run, Random random) throws Exception {
    AtomicLong seqs = new AtomicLong();
    GuestContent initial = GuestContent.random(SIZE, random, seqs);
    Path raw = dir.resolve("initial-" + run + ".raw");
    initial.writeRaw(raw, seed);
    Path image = dir.resolve("image-" + run + ".qcow2");
    shape.create(raw, image);
    Files.delete(raw);
    SectorShadow shadow = new SectorShadow(initial, shape.hasBacking() ? initial : GuestContent.zeros(SIZE));
    int connections = 2 + random.nextInt(3);
    int stripeBytes = Math.min(shape.clusterSize() / 2, random.nextBoolean() ? 512 : 4096);
    stripeBytes = Math.max(SectorTag.SECTOR, stripeBytes);
    StripeLayout layout = new StripeLayout(SIZE, shape.clusterSize(), stripeBytes, connections, random);
    String context = (qemu ? "qemu-nbd" : "qcow4j") + " seed " + seed + " shape " + shape + " run " + run + ": "
        + connections
        + " connections, stripes of " + stripeBytes + " bytes";
    System.out.println(context);
    List<String> problems = Collections.synchronizedList(new ArrayList<>());

    Served server = serve(image, qemu);
    try {
      AtomicLong clock = new AtomicLong();
      List<Thread> writers = new ArrayList<>();
      List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
      for (int i = 0; i < connections; i++) {
        PipelinedNbdClient client = PipelinedNbdClient.connect(server.address(), clock, 1 + random.nextInt(16));
        StripedWriter writer = new StripedWriter(i, client, layout, shadow, seqs, seed, problems::add);
        Random own = new Random(random.nextLong());
        writers.add(Thread.ofPlatform().name("writer-" + i).start(() -> {
          try (client) {
            writer.run(REQUESTS, own);
          } catch (Exception | Error e) {
            failures.add(e);
          }
        }));
      }
      for (Thread writer : writers) {
        writer.join();
      }
      assertThat(failures).as(context).isEmpty();
      readWholeDisk(server, shadow, seed, problems);
    } finally {
      server.stop();
    }
    assertThat(problems).as("%s: %d problems through the server, the first %d", context, problems.size(),
        PROBLEMS_SHOWN).isEmpty();

    Commands.Result check = Commands.run("qemu-img", "check", image.toString());
    assertThat(check.exitCode()).as("%s: qemu-img check after a clean close\n%s", context, check.all()).isZero();
    ImageReadback file = ImageReadback.read(image, SIZE, seed);
    for (int sector = 0; sector < file.sectorCount() && problems.size() < PROBLEMS_SHOWN; sector++) {
      String wrong = shadow.observe(sector, file.value(sector));
      if (wrong != null) {
        problems.add("file sector 0x" + Long.toHexString((long) sector * SectorTag.SECTOR) + " holds "
            + (file.foreign(sector) != null ? file.foreign(sector) : SectorShadow.describe(file.value(sector)))
            + ", " + wrong);
      }
    }
    assertThat(problems).as("%s: the image as qemu-img reads it", context).isEmpty();
  }

  /** Reads every sector through a new connection and checks it against the shadow (pinning trimmed sectors). */
  private static void readWholeDisk(Served server, SectorShadow shadow, long seed, List<String> problems)
      throws Exception {
    int chunk = 1 << 20;
    try (PipelinedNbdClient reader = PipelinedNbdClient.connect(server.address(), new AtomicLong(), 1)) {
      for (long offset = 0; offset < SIZE; offset += chunk) {
        PipelinedNbdClient.Reply reply = reader.read(offset, chunk).reply().join();
        assertThat(reply.error()).as("read at %d", offset).isZero();
        ByteBuffer data = ByteBuffer.wrap(reply.data());
        for (int at = 0; at < chunk; at += SectorTag.SECTOR) {
          int sector = (int) ((offset + at) / SectorTag.SECTOR);
          SectorTag.Content content = SectorTag.decode(data.position(at));
          long found = content.kind() == SectorTag.Kind.ZEROES ? 0
              : content.is((long) sector * SectorTag.SECTOR, seed) ? content.seq() : -1;
          String wrong = shadow.observe(sector, found);
          if (wrong != null && problems.size() < PROBLEMS_SHOWN) {
            problems.add("final read of sector 0x" + Long.toHexString((long) sector * SectorTag.SECTOR) + " found "
                + content + ", " + wrong);
          }
        }
      }
    }
  }
}
