package io.qcow4j.disk;

/**
 * How far an amendment has come, reported as QEMU's amend status callback reports it
 * (BlockDriverAmendStatusCB): {@code offset} units of work done of {@code totalWork}, a total that
 * may grow (and the fraction fall back) as the work turns out larger than projected.
 */
@FunctionalInterface
public interface AmendProgress {
  /** Reports that {@code offset} of {@code totalWork} units are done. */
  void report(long offset, long totalWork);

  /** A progress that nobody watches. */
  AmendProgress NONE = (offset, totalWork) -> {};
}
