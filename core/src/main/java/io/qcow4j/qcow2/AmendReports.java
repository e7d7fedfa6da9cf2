package io.qcow4j.qcow2;

import io.qcow4j.disk.AmendProgress;

/**
 * The progress of an amendment as QEMU 7.2's qcow2_amend_helper_cb makes it: each operation
 * (upgrade, encryption update, refcount width change, downgrade) reports its own offset and work
 * size; the work of the operations not yet reported is projected from those reported so far, so
 * the total grows as operations start.
 */
final class AmendReports {
  /** QEMU's Qcow2AmendOperation, in its order. */
  enum Operation { NONE, UPGRADING, UPDATING_ENCRYPTION, CHANGING_REFCOUNT_ORDER, DOWNGRADING }

  private final AmendProgress sink;
  private final int totalOperations;
  private Operation current = Operation.NONE;
  private Operation last = Operation.NONE;
  private int operationsCompleted;
  private long offsetCompleted;
  private long lastWorkSize;

  AmendReports(AmendProgress sink, int totalOperations) {
    this.sink = sink;
    this.totalOperations = totalOperations;
  }

  /** The operation whose reports follow (QEMU sets current_operation before each). */
  void begin(Operation operation) {
    current = operation;
  }

  /** One report of the current operation: {@code offset} of its {@code workSize} done. */
  void report(long offset, long workSize) {
    if (current != last) {
      if (last != Operation.NONE) {
        offsetCompleted += lastWorkSize;
        operationsCompleted++;
      }
      last = current;
    }
    if (totalOperations <= 0 || operationsCompleted >= totalOperations) {
      return; // QEMU asserts this never happens
    }
    lastWorkSize = workSize;
    long currentWorkSize = offsetCompleted + workSize;
    long projected = currentWorkSize * (totalOperations - operationsCompleted - 1) / (operationsCompleted + 1);
    sink.report(offsetCompleted + offset, currentWorkSize + projected);
  }
}
