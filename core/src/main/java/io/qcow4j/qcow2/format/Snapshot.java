package io.qcow4j.qcow2.format;

import java.util.Arrays;

/**
 * One entry of the snapshot table: its L1 table, identity, times and VM state size, with the
 * optional extra data fields (large VM state size, disk size, icount; -1 when absent) and any
 * further extra data kept as is.
 */
public record Snapshot(
    long l1TableOffset,
    int l1Size,
    String id,
    String name,
    long dateSeconds,
    long dateNanoseconds,
    long vmClockNanoseconds,
    long vmStateSize,
    long diskSize,
    long icount,
    byte[] unknownExtraData) {

  public Snapshot {
    unknownExtraData = unknownExtraData.clone();
  }

  @Override
  public byte[] unknownExtraData() {
    return unknownExtraData.clone();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof Snapshot that
        && l1TableOffset == that.l1TableOffset && l1Size == that.l1Size && id.equals(that.id)
        && name.equals(that.name) && dateSeconds == that.dateSeconds && dateNanoseconds == that.dateNanoseconds
        && vmClockNanoseconds == that.vmClockNanoseconds && vmStateSize == that.vmStateSize
        && diskSize == that.diskSize && icount == that.icount
        && Arrays.equals(unknownExtraData, that.unknownExtraData);
  }

  @Override
  public int hashCode() {
    return (int) (31 * l1TableOffset + id.hashCode() * 17 + name.hashCode());
  }
}
