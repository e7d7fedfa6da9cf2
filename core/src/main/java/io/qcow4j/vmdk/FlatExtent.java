package io.qcow4j.vmdk;

import io.qcow4j.storage.Storage;
import java.nio.file.Path;

/** A flat (FLAT or VMFS) extent: guest sectors in order from a sector offset of a plain file. */
record FlatExtent(long startSector, long sectors, Storage storage, Path path, String type, long fileOffsetSectors)
    implements VmdkExtent {

  @Override
  public boolean flat() {
    return true;
  }

  @Override
  public boolean compressed() {
    return false;
  }

  @Override
  public long grainBytes() {
    return sectors << 9;
  }

  @Override
  public Mapping map(long extentOffset) {
    return new Mapping(Kind.DATA, (fileOffsetSectors << 9) + extentOffset, byteSize() - extentOffset);
  }
}
