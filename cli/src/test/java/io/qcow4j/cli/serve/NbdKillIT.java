package io.qcow4j.cli.serve;

import io.qcow4j.nbd.testkit.ImageShape;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import io.qcow4j.nbd.testkit.TestSeeds;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SIGKILL of the NBD server at random moments of a pipelined multi-connection workload (tagged
 * writes, FUA, trims, write-zeroes with and without NO_HOLE, flushes), over every image shape:
 * afterwards qemu-img check finds no corruption and every sector holds a value that the
 * acknowledged flushes and FUA writes allow. qemu-nbd runs the same campaign, as a check of the
 * model itself. One round per shape by default, 15 with QCOW4J_LONG=1 (or -Dqcow4j.rounds=N);
 * -Dqcow4j.shapes=A,B and -Dqcow4j.seed=S replay a failure.
 */
class NbdKillIT {
  private static final int ROUNDS = Integer.getInteger("qcow4j.rounds", TestSeeds.longRun() ? 15 : 1);

  @TempDir Path dir;

  @ParameterizedTest
  @MethodSource("io.qcow4j.nbd.testkit.ImageShape#selected")
  void qcow4jServeKeepsWhatItAcknowledged(ImageShape shape) throws Exception {
    new KillCampaign(shape, NbdServerProcess.Kind.QCOW4J, TestSeeds.seed(), dir).run(ROUNDS);
  }

  @ParameterizedTest
  @MethodSource("io.qcow4j.nbd.testkit.ImageShape#selected")
  void qemuNbdKeepsWhatItAcknowledged(ImageShape shape) throws Exception {
    new KillCampaign(shape, NbdServerProcess.Kind.QEMU_NBD, TestSeeds.seed(), dir).run(ROUNDS);
  }
}
