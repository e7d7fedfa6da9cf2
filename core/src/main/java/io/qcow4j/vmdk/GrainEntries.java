package io.qcow4j.vmdk;

/**
 * The grain table entries of a new sparse extent, held per grain table and made when the table's
 * first grain is written, so that memory follows what is written rather than the disk's size (a
 * 3 TiB extent has 50 million entries, nearly all of them 0).
 */
final class GrainEntries {
  private final int[][] tables;
  private final long grains;

  GrainEntries(long grains) {
    this.grains = grains;
    this.tables = new int[(int) ((grains + VmdkTarget.ENTRIES_PER_TABLE - 1) / VmdkTarget.ENTRIES_PER_TABLE)][];
  }

  /** The entry of {@code grain}: its sector in the file, 0 while it is not there. */
  int get(int grain) {
    int[] table = tables[grain / VmdkTarget.ENTRIES_PER_TABLE];
    return table == null ? 0 : table[grain % VmdkTarget.ENTRIES_PER_TABLE];
  }

  /** Points {@code grain} at {@code sector}. */
  void set(int grain, int sector) {
    int index = grain / VmdkTarget.ENTRIES_PER_TABLE;
    if (tables[index] == null) {
      tables[index] = new int[VmdkTarget.ENTRIES_PER_TABLE];
    }
    tables[index][grain % VmdkTarget.ENTRIES_PER_TABLE] = sector;
  }

  /** The number of grains the extent maps. */
  long grains() {
    return grains;
  }
}
