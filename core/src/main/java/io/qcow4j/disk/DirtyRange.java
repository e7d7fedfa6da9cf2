package io.qcow4j.disk;

/** A guest range a dirty bitmap marks as changed, whole granularity units of it. */
public record DirtyRange(long start, long length) {
  /** The guest offset just past this range. */
  public long end() {
    return start + length;
  }
}
