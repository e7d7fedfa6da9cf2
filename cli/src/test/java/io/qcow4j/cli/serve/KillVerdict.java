package io.qcow4j.cli.serve;

import io.qcow4j.nbd.testkit.Commands;
import io.qcow4j.nbd.testkit.GuestContent;
import io.qcow4j.nbd.testkit.ImageReadback;
import io.qcow4j.nbd.testkit.NbdServerProcess;
import io.qcow4j.nbd.testkit.SectorTag;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Judges an image after its server was killed: no request was answered with an error, qemu-img
 * check finds no corruption, every sector holds a value the durability model allows. A failing
 * image is kept under target/nbd-kill-failures for a look.
 */
final class KillVerdict {
  private KillVerdict() {}

  /**
   * Throws an AssertionError naming {@code context} (which holds the seed) and every problem;
   * returns what the image holds, the starting point of a next round, or null when some sectors
   * hold excused data of other offsets (the next round must then start from a new image).
   */
  static GuestContent judge(String context, NbdServerProcess.Kind kind, Path image, long seed, int clusterSize,
      DurabilityModel model, WorkloadLog log) throws IOException, InterruptedException {
    List<String> errors = log.entries().stream().filter(entry -> entry.request().replyNow() != null
        && entry.request().replyNow().error() != 0).map(Object::toString).toList();
    String inconsistent = ConsistencyCheck.problem(image);
    long size = model.sectorCount() * (long) SectorTag.SECTOR;
    ImageReadback readback = ImageReadback.read(image, size, seed);
    int[] excused = {0};
    String differences = ModelComparison.differences(readback, model, clusterSize,
        kind == NbdServerProcess.Kind.QEMU_NBD ? QemuNbdFlaws::excuses : ModelComparison.Excuse.NONE, excused);
    if (excused[0] > 0) {
      System.out.println(context + ": " + excused[0] + " sectors excused as known flaws of qemu-nbd 7.2");
    }
    if (!errors.isEmpty() || inconsistent != null || differences != null) {
      Path kept = keep(image, context.replaceAll("[^A-Za-z0-9]+", "-"));
      throw new AssertionError(context + " (image kept as " + kept + "):\n"
          + (errors.isEmpty() ? "" : "requests answered with an error: " + errors.stream().limit(10).toList() + "\n")
          + (inconsistent == null ? "" : inconsistent + "\n")
          + (differences == null ? "" : differences));
    }
    return excused[0] > 0 ? null : readback.asGuestContent();
  }

  /** Copies a failing image (and its backing file, rebased onto the copy) under target/. */
  private static Path keep(Path image, String name) throws IOException, InterruptedException {
    Path kept = Path.of("target", "nbd-kill-failures").toAbsolutePath();
    Files.createDirectories(kept);
    String base = image.getFileName().toString();
    Path keptImage = kept.resolve(name + ".qcow2");
    Files.copy(image, keptImage, StandardCopyOption.REPLACE_EXISTING);
    Path backing = image.resolveSibling(base + ".backing.qcow2");
    if (Files.exists(backing)) {
      Path keptBacking = kept.resolve(name + ".backing.qcow2");
      Files.copy(backing, keptBacking, StandardCopyOption.REPLACE_EXISTING);
      Commands.check("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", keptBacking.toString(), "-F", "qcow2",
          keptImage.toString());
    }
    return keptImage;
  }
}
