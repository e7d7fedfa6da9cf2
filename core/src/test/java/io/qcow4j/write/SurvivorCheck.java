package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * The verdict on one crash survivor of a concurrent workload: it opens (dirty only with lazy
 * refcounts), every sector reads as the {@link SectorModel} allows, our check and qemu-img check
 * find no corruption (leaks allowed; a dirty image is judged after its repair), a repair by
 * check -r all (ours or qemu-img's, or our read-write open for a dirty image) leaves it clean with
 * the same content, and a snapshot taken before the workload still holds what it held.
 */
final class SurvivorCheck {
  private static final int REPORTED_SECTORS = 6;

  private final SectorModel model;
  private final ImageShape shape;
  private final long[] initial;

  SurvivorCheck(SectorModel model, ImageShape shape, long[] initial) {
    this.model = model;
    this.shape = shape;
    this.initial = initial.clone();
  }

  /** Checks the survivor in {@code file} of a cut before event {@code cut}; repairs it with qemu-img or with ours. */
  void verify(Path file, long cut, boolean repairWithQemu, String context) throws IOException {
    boolean lazy = shape.createOptions().lazyRefcounts();
    boolean dirty;
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      dirty = image.info().qcow2().dirty();
      if (dirty && !lazy) {
        fail(context + "\nthe survivor of an image without lazy refcounts is marked dirty");
      }
      assertContent(image, cut, context + "\nbefore any repair" + (dirty ? " (dirty)" : ""));
    } catch (IOException | RuntimeException e) {
      throw new AssertionError(context + "\nthe survivor does not open or read: " + e, e);
    }
    if (!dirty) {
      CheckResult ours = QcowFile.check(file, CheckResult.Repair.NONE);
      if (ours.corruptions() != 0 || ours.checkErrors() != 0) {
        fail(context + "\nour check finds corruption in the survivor (only leaks are allowed): " + describe(ours));
      }
      QemuTools.Result qemu = WriteTesting.check(file);
      if (qemu.exitCode() != 0 && qemu.exitCode() != 3) {
        fail(context + "\nqemu-img check finds corruption in the survivor (only leaks are allowed):\n"
            + qemu.describe());
      }
    }
    String repair;
    if (repairWithQemu) {
      repair = "qemu-img check -r all:\n" + WriteTesting.check(file, "-r", "all").describe();
    } else if (dirty) {
      repair = "our read-write open of the dirty image";
      try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
        if (image.info().qcow2().dirty()) {
          fail(context + "\nopened read-write, the dirty survivor is still dirty");
        }
      }
    } else {
      repair = "our check -r all: " + describe(QcowFile.check(file, CheckResult.Repair.ALL));
    }
    QemuTools.Result after = WriteTesting.check(file);
    if (after.exitCode() != 0) {
      fail(context + "\nthe repair did not leave the survivor clean for qemu-img check.\nrepair by " + repair
          + "\nthen:\n" + after.describe());
    }
    CheckResult ours = QcowFile.check(file, CheckResult.Repair.NONE);
    if (ours.corruptions() != 0 || ours.leaks() != 0 || ours.checkErrors() != 0) {
      fail(context + "\nafter the repair by " + repair + "\nour check is not clean: " + describe(ours));
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      assertContent(image, cut, context + "\nafter the repair by " + repair);
    }
    if (shape.snapshot()) {
      assertSnapshotIntact(file, initial, context);
    }
  }

  private void assertContent(QcowFile image, long cut, String context) throws IOException {
    byte[] content = readAll(image);
    List<String> violations = model.violations(content, cut, REPORTED_SECTORS);
    if (!violations.isEmpty()) {
      fail(context + "\n" + String.join("\n", violations));
    }
  }

  /** Applies the snapshot the setup took in {@code file}: the disk must read exactly as {@code initial} says. */
  static void assertSnapshotIntact(Path file, long[] initial, String context) throws IOException {
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      image.applySnapshot(ShapeSetup.SNAPSHOT_NAME);
      byte[] content = readAll(image);
      for (int sector = 0; sector < initial.length; sector++) {
        SectorTag.Reading reading = SectorTag.read(content, sector * SectorTag.SECTOR);
        boolean same = initial[sector] == 0 ? reading.kind() == SectorTag.Kind.ZERO
            : reading.kind() == SectorTag.Kind.TAGGED && reading.sector() == sector
                && reading.sequence() == initial[sector];
        if (!same) {
          fail(context + "\nafter applying the snapshot taken before the workload, guest offset "
              + (long) sector * SectorTag.SECTOR + " reads " + reading + ", not "
              + (initial[sector] == 0 ? "zeros" : "sequence " + initial[sector]));
        }
      }
    }
  }

  static byte[] readAll(QcowFile image) throws IOException {
    ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(image.size()));
    image.readFully(all, 0);
    return all.array();
  }

  static String describe(CheckResult result) {
    return "corruptions " + result.corruptions() + ", leaks " + result.leaks() + ", check errors "
        + result.checkErrors() + (result.messages().isEmpty() ? "" : "\n  " + String.join("\n  ",
            result.messages().subList(0, Math.min(12, result.messages().size()))));
  }
}
