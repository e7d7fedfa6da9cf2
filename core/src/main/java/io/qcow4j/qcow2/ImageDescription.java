package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Describes an image as qemu-img info does: format fields, snapshots and persistent bitmaps. */
final class ImageDescription {
  private final QcowFile image;
  private final Path path;
  private final String name;
  private final Storage storage;
  private final FileSize fileSize;
  private final int clusterSize;

  ImageDescription(QcowFile image, Path path, Storage storage, FileSize fileSize) {
    this.image = image;
    this.path = path;
    this.name = storage.name();
    this.storage = storage;
    this.fileSize = fileSize;
    this.clusterSize = image.clusterSize();
  }

  /** What qemu-img info reports about the image: its header's fields, snapshots and bitmaps. */
  ImageInfo info() throws IOException {
    Header header = image.header();
    ImageInfo.Qcow2Info qcow2 = new ImageInfo.Qcow2Info(header.version(), clusterSize, header.compat(),
        header.lazyRefcounts(), header.refcountBits(), header.corrupt(), header.dirty(), header.extendedL2(),
        header.compressionTypeName(), header.hasDataFile() ? header.dataFile().orElse("") : null,
        header.dataFileRaw(), image.snapshots(), bitmaps(),
        image.encryption() != null ? image.encryption().info()
            : header.cryptMethod() == Header.CRYPT_AES ? new ImageInfo.EncryptionInfo("aes", null) : null);
    long allocated = path != null ? HostFiles.allocatedBytes(path) : storage.allocatedBytes();
    return new ImageInfo(path, ImageFormat.QCOW2, header.size(), allocated,
        header.backingFile(), header.backingFormat().orElse(null), qcow2);
  }

  private List<ImageInfo.BitmapInfo> bitmaps() throws IOException {
    Header header = image.header();
    Optional<HeaderExtension> extension = header.extension(HeaderExtension.BITMAPS);
    if (extension.isEmpty() || !header.bitmapsValid()) {
      return List.of();
    }
    BitmapDirectoryCodec.Extension bitmaps = BitmapDirectoryCodec.Extension.decode(name, extension.get().data());
    long directoryOffset = bitmaps.directoryOffset();
    long directorySize = bitmaps.directorySize();
    if (directorySize < 0 || directorySize > BitmapDirectoryCodec.MAX_DIRECTORY_BYTES) {
      throw new ImageLimitException(name + ": bitmap directory of " + directorySize + " bytes exceeds the limit of "
          + BitmapDirectoryCodec.MAX_DIRECTORY_BYTES);
    }
    if ((directoryOffset & (clusterSize - 1)) != 0 || directoryOffset <= 0
        || directoryOffset + directorySize > fileSize.atLeast(directoryOffset + directorySize)) {
      throw new CorruptImageException(name + ": bitmap directory at offset " + directoryOffset + " is invalid");
    }
    ByteBuffer directory = ByteBuffer.allocate((int) directorySize);
    storage.readFully(directory, directoryOffset);
    List<ImageInfo.BitmapInfo> infos = new ArrayList<>();
    for (BitmapDirectoryCodec.Entry entry : BitmapDirectoryCodec.decode(name, directory.flip(), directoryOffset,
        bitmaps.count())) {
      List<String> flags = new ArrayList<>();
      if ((entry.flags() & BitmapDirectoryCodec.FLAG_IN_USE) != 0) {
        flags.add("in-use");
      }
      if ((entry.flags() & BitmapDirectoryCodec.FLAG_AUTO) != 0) {
        flags.add("auto");
      }
      infos.add(new ImageInfo.BitmapInfo(entry.name(), 1L << entry.granularityBits(), flags));
    }
    return infos;
  }
}
