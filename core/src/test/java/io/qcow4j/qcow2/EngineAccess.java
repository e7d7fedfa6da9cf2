package io.qcow4j.qcow2;

import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.Snapshot;
import java.util.List;

/** What tests outside the engine's package read of its internals, which the public API does not show. */
public final class EngineAccess {
  private EngineAccess() {}

  /** The decoded header of {@code image} as it is now. */
  public static Header header(QcowFile image) {
    return image.header();
  }

  /** The snapshot table of {@code image}, with each entry's L1 table. */
  public static List<Snapshot> snapshotTable(QcowFile image) {
    return image.snapshotTable();
  }
}
