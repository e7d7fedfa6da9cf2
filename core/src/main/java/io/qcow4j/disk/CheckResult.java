package io.qcow4j.disk;

import java.util.List;

/**
 * What a consistency check found, with qemu-img check's meaning for every figure. The counts of
 * fixed problems are those a repair made; the other counts describe the image after the repair.
 * {@code messages} are the per-problem lines qemu-img prints on stderr.
 */
public record CheckResult(
    String filename,
    String format,
    long checkErrors,
    long corruptions,
    long leaks,
    long corruptionsFixed,
    long leaksFixed,
    long imageEndOffset,
    long totalClusters,
    long allocatedClusters,
    long fragmentedClusters,
    long compressedClusters,
    List<String> messages) {

  /** Which problems a check repairs: none, leaked clusters only, or everything it can. */
  public enum Repair {
    /** Only check. */
    NONE,
    /** Free leaked clusters (qemu-img check -r leaks). */
    LEAKS,
    /** Repair everything that can be repaired (qemu-img check -r all). */
    ALL
  }

  /** qemu-img check's exit status: 0 clean, 2 corruptions, 3 leaks only, 1 the check failed. */
  public int exitStatus() {
    if (checkErrors > 0) {
      return 1;
    }
    if (corruptions > 0) {
      return 2;
    }
    return leaks > 0 ? 3 : 0;
  }
}
