package io.qcow4j.disk;

/**
 * One internal snapshot as qemu-img snapshot -l and info list it: its id and name, the size of its
 * saved VM state, when it was taken, the guest clock then, and, where the image records them, the
 * disk size and the instruction count at that moment (-1 when not recorded).
 *
 * @param id the unique id ("1", "2", ...)
 * @param name the name given at creation, not necessarily unique
 * @param vmStateSize the bytes of saved VM state (0 for a disk-only snapshot)
 * @param dateSeconds when it was taken: seconds since the epoch
 * @param dateNanoseconds when it was taken: the nanoseconds within that second
 * @param vmClockNanoseconds the guest's clock when it was taken, in nanoseconds
 * @param icount the instruction count when it was taken, -1 when not recorded
 * @param diskSize the virtual disk size when it was taken, -1 when not recorded
 */
public record SnapshotInfo(
    String id, String name, long vmStateSize, long dateSeconds, long dateNanoseconds,
    long vmClockNanoseconds, long icount, long diskSize) {}
