package io.qcow4j.vmdk.format;

/**
 * One extent line of a descriptor ("RW 131072 SPARSE \"disk-s001.vmdk\"", "RW 2048 FLAT
 * \"disk-flat.vmdk\" 0"): the access, the size in sectors, the type, the file name as written and,
 * for FLAT (and VMFS, where it is 0), the offset of the extent's first sector in its file.
 */
public record ExtentLine(String access, long sectors, String type, String fileName, long offsetSectors) {
  /** A flat extent: guest sectors stored in order in a plain file. */
  public static final String FLAT = "FLAT";
  /** A hosted sparse extent (KDMV) or, under a vmfsSparse descriptor, a COWD extent. */
  public static final String SPARSE = "SPARSE";
  /** ESX's flat extent. */
  public static final String VMFS = "VMFS";
  /** ESX's sparse extent (COWD). */
  public static final String VMFS_SPARSE = "VMFSSPARSE";
  /** ESXi's seSparse extent. */
  public static final String SE_SPARSE = "SESPARSE";

  /** Whether the extent is a plain file of guest sectors. */
  public boolean flat() {
    return type.equals(FLAT) || type.equals(VMFS);
  }
}
