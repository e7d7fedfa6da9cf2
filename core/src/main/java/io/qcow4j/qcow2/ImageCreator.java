package io.qcow4j.qcow2;

import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.options.CreateRules;
import io.qcow4j.qcow2.format.FeatureName;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.crypto.LuksHeader;
import io.qcow4j.crypto.LuksKeys;
import io.qcow4j.luks.LuksVolume;
import io.qcow4j.qcow2.format.CryptoHeader;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Creates qcow2 images laid out as qemu-img lays them out: the header in cluster 0, the refcount
 * table in cluster 1, the first refcount block in cluster 2, the L1 table after them; then the
 * preallocation asked for.
 */
final class ImageCreator {
  private ImageCreator() {}

  /**
   * Checks the options as qemu-img does ({@link CreateRules}, with its messages), then against
   * qcow4j's limits: the backing file name's length and the virtual size.
   */
  static void validate(CreateOptions options) throws IOException {
    CreateRules.checkQcow2(options);
    if (options.backingFile() != null && options.backingFile().getBytes(StandardCharsets.UTF_8).length
        > HeaderCodec.MAX_BACKING_NAME_BYTES) {
      throw new ImageLimitException("Backing file name is longer than " + HeaderCodec.MAX_BACKING_NAME_BYTES + " bytes");
    }
    // (a size past HeaderCodec.MAX_VIRTUAL_SIZE needs an L1 table past QEMU's limit whatever the
    // cluster size: refused there, with qemu-img's EFBIG words, as qcow2_co_create refuses it)
    if (options.size() < 0) {
      throw new ImageLimitException("Image size " + options.size() + " is out of range (0.." + HeaderCodec.MAX_VIRTUAL_SIZE + ")");
    }
  }

  private static int version(CreateOptions options) {
    return options.compat().version();
  }

  /** Creates the image (replacing any file at {@code path}) and returns it opened read-write. */
  static QcowFile create(Path path, CreateOptions options) throws IOException {
    return create(path, options, OpenOptions.readWriteDefaults());
  }

  /** As {@link #create(Path, CreateOptions)}, made and opened as {@code open} says (its access ignored). */
  static QcowFile create(Path path, CreateOptions options, OpenOptions open) throws IOException {
    OpenOptions readWrite = open.withReadOnly(false);
    QcowFile image = createDetached(path, options, readWrite);
    if (options.backingFile() == null) {
      return image;
    }
    image.close();
    return QcowFile.open(path, readWrite);
  }

  /** Creates the image and returns it opened read-write without its backing file. */
  static QcowFile createDetached(Path path, CreateOptions options) throws IOException {
    return createDetached(path, options, OpenOptions.readWriteDefaults());
  }

  private static QcowFile createDetached(Path path, CreateOptions options, OpenOptions open) throws IOException {
    validate(options);
    if (options.dataFile() != null) {
      Path dataPath = DataFilePaths.of(path.toString(), options.dataFile());
      try (Storage data = FileStorage.create(dataPath, true)) {
        data.truncate((options.size() + 511) & ~511L);
      }
    }
    Storage storage = FileStorage.create(path, true).flushingAs(open);
    try {
      return layOut(storage, path, options, open);
    } catch (IOException | RuntimeException e) {
      // qcow2_co_create_opts deletes what it made when the creation fails
      Files.deleteIfExists(path);
      if (options.dataFile() != null) {
        Files.deleteIfExists(DataFilePaths.of(path.toString(), options.dataFile()));
      }
      throw e;
    }
  }

  /** Creates the image in empty {@code storage}; external data files need a path, so they are refused. */
  static QcowFile create(Storage storage, Path path, CreateOptions options) throws IOException {
    validate(options);
    if (options.dataFile() != null) {
      storage.close();
      throw new UnsupportedFeatureException(storage.name() + ": an external data file needs an image path");
    }
    QcowFile image = layOut(storage, path, options, OpenOptions.readWriteDefaults());
    if (options.backingFile() == null || options.preallocation() != Preallocation.OFF) {
      return image;
    }
    // The image is handed back reading through its backing file.
    return image.attachBacking();
  }

  /** The header, zero-padded to a whole cluster. */
  private static ByteBuffer headerCluster(Header header, int clusterSize) {
    byte[] encoded = HeaderCodec.encode(header);
    return ByteBuffer.wrap(java.util.Arrays.copyOf(encoded, Math.max(clusterSize, encoded.length)));
  }

  private static QcowFile layOut(Storage storage, Path path, CreateOptions options, OpenOptions open)
      throws IOException {
    long size = (options.size() + 511) & ~511L;
    int clusterBits = Integer.numberOfTrailingZeros(options.clusterSize());
    int clusterSize = options.clusterSize();
    int version = version(options);
    int refcountOrder = Integer.numberOfTrailingZeros(options.refcountBits());
    try {
      // as qcow2_co_create: a bare header first, the backing file assigned at the end
      Header initial = header(options.toBuilder().backing(null, null).build(), version, clusterBits,
          refcountOrder, 0, 0, 0, null, 0);
      // the whole first cluster, as qcow2_co_create writes it: the file's allocation is QEMU's (which
      // its metadata preallocation detection, and so block status, goes by)
      storage.write(headerCluster(initial, clusterSize), 0);
      ByteBuffer table = ByteBuffer.allocate(clusterSize);
      table.putLong(0, 2L * clusterSize);
      storage.write(table, clusterSize);
      byte[] block = new byte[clusterSize];
      for (int cluster = 0; cluster < 3; cluster++) {
        RefcountBlock.set(block, cluster, refcountOrder, 1);
      }
      storage.write(ByteBuffer.wrap(block), 2L * clusterSize);

      Refcounts refcounts = new Refcounts(storage.name(), storage, clusterBits, refcountOrder, clusterSize, 1);
      long bytesPerTable = (long) clusterSize * (clusterSize / (options.extendedL2() ? 16 : 8));
      long l1Entries = size / bytesPerTable + (size % bytesPerTable != 0 ? 1 : 0);
      if (l1Entries * 8 > HeaderCodec.MAX_L1_BYTES) {
        // qemu-img's words for a create that fails with EFBIG (block.c's bdrv_img_create)
        throw new ImageLimitException(storage.name() + ": The image size is too large for file format 'qcow2'"
            + " (try using a larger cluster size)");
      }
      // Like qemu-img: no L1 table for an empty disk, and the file ends right after the entries.
      long l1Offset = 0;
      if (l1Entries > 0) {
        l1Offset = refcounts.allocate((int) ((l1Entries * 8 + clusterSize - 1) / clusterSize));
        storage.write(ByteBuffer.allocate((int) (l1Entries * 8)), l1Offset);
      }
      CryptoHeader crypto = null;
      int cryptMethod = 0;
      if (options.encryption() != null && options.encryption().format().equals("aes")) {
        // crypto/block-qcow.c: nothing is stored but the method; the key is the passphrase
        if (options.encryption().secret() == null) {
          throw new io.qcow4j.disk.InvalidOptionException("Parameter 'encrypt.key-secret' is required for cipher");
        }
        cryptMethod = Header.CRYPT_AES;
      } else if (options.encryption() != null) {
        crypto = createLuks(storage, refcounts, options, clusterSize, options.encryption().secret());
        cryptMethod = Header.CRYPT_LUKS;
      }
      Refcounts.DirtyRefcounts dirty = refcounts.takeDirty();
      refcounts.writeBlocks(dirty);
      storage.force(false);
      refcounts.writeTable(dirty);
      storage.force(false);
      Header header = header(options, version, clusterBits, refcountOrder, size, l1Offset, (int) l1Entries, crypto,
          cryptMethod)
          .withRefcountTable(refcounts.tableOffset(), refcounts.tableClusters());
      if (HeaderCodec.encodedLength(header) > clusterSize) {
        // qcow2_co_create's bdrv_change_backing_file, whose qcow2_update_header finds no room
        throw new ImageLimitException("Could not assign backing file '" + options.backingFile() + "' with format '"
            + (options.backingFormat() == null ? "(null)" : options.backingFormat().id())
            + "': No space left on device");
      }
      storage.write(headerCluster(header, clusterSize), 0);
      storage.force(false);
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
    // Preallocation never reads the backing file; the caller attaches it or reopens the image.
    OpenOptions reopen = open.withBackingPolicy(io.qcow4j.disk.BackingPolicy.IGNORE);
    if (options.encryption() != null) {
      byte[] secret = options.encryption().secret();
      reopen = reopen.withKeySecret(secret);
      java.util.Arrays.fill(secret, (byte) 0);
    }
    QcowFile image = QcowFile.open(storage, path, reopen);
    try {
      if (options.preallocation() != Preallocation.OFF) {
        image.writer().preallocate(options.preallocation());
      }
      return image;
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  /**
   * The LUKS header of a new encrypted image, as QEMU's qcow2_set_up_encryption makes it: clusters
   * allocated after the L1 table for the whole LUKS area (header and eight key slots), zeroed,
   * slot 0 holding a new master key under {@code secret} (cleared here).
   */
  private static CryptoHeader createLuks(Storage storage, Refcounts refcounts, CreateOptions options, int clusterSize,
      byte[] secret) throws IOException {
    try {
      LuksKeys.Parameters parameters = LuksVolume.parameters(options.encryption());
      if (secret == null) {
        throw new io.qcow4j.disk.InvalidOptionException("Parameter 'encrypt.key-secret' is required for cipher");
      }
      long length = LuksHeader.payloadOffsetFor(parameters.cipherSpec().keyLength());
      int clusters = (int) ((length + clusterSize - 1) / clusterSize);
      long offset = refcounts.allocate(clusters);
      storage.write(ByteBuffer.allocate(clusters * clusterSize), offset);
      LuksKeys.NewVolume volume = LuksKeys.create(parameters, secret, LuksVolume.material(storage, offset));
      java.util.Arrays.fill(volume.masterKey(), (byte) 0);
      storage.write(ByteBuffer.wrap(volume.header().encode()), offset);
      return new CryptoHeader(offset, length);
    } finally {
      if (secret != null) {
        java.util.Arrays.fill(secret, (byte) 0);
      }
    }
  }

  private static Header header(CreateOptions options, int version, int clusterBits, int refcountOrder, long size,
      long l1Offset, int l1Entries, CryptoHeader crypto, int cryptMethod) {
    List<HeaderExtension> extensions = new ArrayList<>();
    if (options.backingFile() != null && options.backingFormat() != null) {
      extensions.add(new HeaderExtension(HeaderExtension.BACKING_FORMAT,
          options.backingFormat().id().getBytes(StandardCharsets.UTF_8)));
    }
    if (options.dataFile() != null) {
      extensions.add(new HeaderExtension(HeaderExtension.EXTERNAL_DATA_FILE,
          options.dataFile().getBytes(StandardCharsets.UTF_8)));
    }
    if (crypto != null) {
      extensions.add(crypto.extension());
    }
    long incompatible = 0;
    long compatible = 0;
    long autoclear = 0;
    int compressionType = options.compressionType() == CompressionType.ZSTD ? Header.COMPRESSION_ZSTD
        : Header.COMPRESSION_ZLIB;
    if (version >= 3 && FeatureName.tableWritten(1 << clusterBits)) {
      extensions.add(new HeaderExtension(HeaderExtension.FEATURE_NAME_TABLE, FeatureName.encodeKnownTable()));
    }
    if (version >= 3) {
      if (options.dataFile() != null) {
        incompatible |= Features.INCOMPAT_DATA_FILE;
      }
      if (compressionType != Header.COMPRESSION_ZLIB) {
        incompatible |= Features.INCOMPAT_COMPRESSION_TYPE;
      }
      if (options.extendedL2()) {
        incompatible |= Features.INCOMPAT_EXTENDED_L2;
      }
      if (options.lazyRefcounts()) {
        compatible |= Features.COMPAT_LAZY_REFCOUNTS;
      }
      if (options.dataFileRaw()) {
        autoclear |= Features.AUTOCLEAR_DATA_FILE_RAW;
      }
    }
    int clusterSize = 1 << clusterBits;
    return new Header(version, 0, 0, clusterBits, size, cryptMethod, l1Entries, l1Offset,
        clusterSize, 1, 0, 0, incompatible,
        compatible, autoclear, version >= 3 ? refcountOrder : 4, version >= 3 ? Header.V3_LENGTH : Header.V2_LENGTH,
        compressionType, extensions, options.backingFile());
  }
}
