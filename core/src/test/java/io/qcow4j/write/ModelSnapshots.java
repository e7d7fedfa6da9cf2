package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RefcountOverflowException;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The internal snapshots of one model-based sequence: what the disk held when each was created,
 * the random create, apply and delete steps that keep them, and the final proof that each one
 * still restores what it held. As in QEMU, an image with an external data file refuses snapshots,
 * and 1- or 2-bit refcounts may refuse one with a RefcountOverflowException when a count would overflow.
 */
final class ModelSnapshots {
  private static final int MAX_SNAPSHOTS = 4;

  private final Map<String, DiskModel> saved = new LinkedHashMap<>();
  private final boolean dataFile;
  private final boolean narrowRefcounts;
  private int created;
  private boolean refused;

  ModelSnapshots(boolean dataFile, int refcountBits) {
    this.dataFile = dataFile;
    this.narrowRefcounts = refcountBits <= 2;
  }

  /** What a step left: the model of the active disk (another one after an apply), and whether one was applied. */
  record Outcome(DiskModel model, boolean applied) {}

  boolean isEmpty() {
    return saved.isEmpty();
  }

  /** Creates, applies or deletes a snapshot at random; {@code note} logs what it does. */
  Outcome step(QcowFile disk, DiskModel model, Random random, Consumer<String> note) throws IOException {
    if (refused) {
      return new Outcome(model, false);
    }
    boolean create = saved.isEmpty() || saved.size() < MAX_SNAPSHOTS && random.nextBoolean();
    if (create) {
      String name = "snap" + ++created;
      note.accept("create snapshot " + name);
      try {
        disk.createSnapshot(name);
      } catch (IOException e) {
        if (!dataFile && !(narrowRefcounts && e instanceof RefcountOverflowException)) {
          throw e;
        }
        note.accept("  refused: " + e.getMessage());
        refused = true;
        model.assertWholeDisk(disk, "the whole disk after a refused snapshot");
        if (!dataFile) {
          // As QEMU's qcow2_snapshot_create, the L1 copy allocated before the overflow stays leaked
          // (iotest 112); nothing else is off, and check -r leaks gives it back.
          CheckResult found = disk.check(CheckResult.Repair.NONE);
          if (found.corruptions() != 0 || found.leaks() == 0 || found.checkErrors() != 0) {
            fail("after a refused snapshot the check should find only the leaked L1 copy: corruptions "
                + found.corruptions() + ", leaks " + found.leaks() + "\n  " + String.join("\n  ", found.messages()));
          }
          note.accept("  leaked the L1 copy (" + found.leaks() + " clusters), repaired with check -r leaks");
          disk.check(CheckResult.Repair.LEAKS);
        }
        return new Outcome(model, false);
      }
      if (dataFile) {
        fail("an image with an external data file took internal snapshot " + name + ": QEMU refuses that"
            + " (ENOTSUP) and its check reports such an image as corrupt (snapshots in image with data file)");
      }
      saved.put(name, new DiskModel(model.snapshot()));
      return new Outcome(model, false);
    }
    List<String> names = new ArrayList<>(saved.keySet());
    String name = names.get(random.nextInt(names.size()));
    if (random.nextBoolean()) {
      note.accept("apply snapshot " + name);
      try {
        disk.applySnapshot(name);
      } catch (RefcountOverflowException e) {
        if (!narrowRefcounts) {
          throw e;
        }
        note.accept("  refused: " + e.getMessage());
        model.assertWholeDisk(disk, "the whole disk after a refused apply of snapshot " + name);
        return new Outcome(model, false);
      }
      DiskModel restored = new DiskModel(saved.get(name).snapshot());
      restored.assertWholeDisk(disk, "the whole disk just after applying snapshot " + name);
      return new Outcome(restored, true);
    }
    note.accept("delete snapshot " + name);
    disk.deleteSnapshot(name);
    saved.remove(name);
    return new Outcome(model, false);
  }

  /** Applies every remaining snapshot of the closed image in turn: each must read as it did when created (or be refused at a refcount limit). */
  void assertEachRestores(Path image, OpenOptions options, String context) throws IOException {
    if (saved.isEmpty()) {
      return;
    }
    try (QcowFile disk = QcowFile.open(image, options)) {
      for (Map.Entry<String, DiskModel> snapshot : saved.entrySet()) {
        try {
          disk.applySnapshot(snapshot.getKey());
        } catch (RefcountOverflowException e) {
          if (!narrowRefcounts) {
            throw e;
          }
          continue;
        }
        snapshot.getValue().assertWholeDisk(disk, context + ": applying snapshot " + snapshot.getKey()
            + " at the end");
      }
    }
  }
}
