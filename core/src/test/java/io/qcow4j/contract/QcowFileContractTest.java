package io.qcow4j.contract;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Nested;

/** The contract over qcow2 images of every shape the engine writes. */
class QcowFileContractTest {
  @Nested
  class Defaults extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      return QcowFile.create(directory.resolve("disk.qcow2"), CreateOptions.of(size));
    }
  }

  @Nested
  class SmallClustersV2 extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      return QcowFile.create(directory.resolve("disk.qcow2"),
          CreateOptions.of(size).withClusterSize(512).withCompat(Compat.V2));
    }
  }

  @Nested
  class ExtendedL2OneBitRefcounts extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      return QcowFile.create(directory.resolve("disk.qcow2"),
          CreateOptions.of(size).withExtendedL2(true).withClusterSize(32768).withRefcountBits(1));
    }
  }

  @Nested
  class ZstdLazyPreallocated extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      return QcowFile.create(directory.resolve("disk.qcow2"), CreateOptions.of(size).withCompressionType(CompressionType.ZSTD)
          .withLazyRefcounts(true).withPreallocation(Preallocation.METADATA).withClusterSize(4096));
    }
  }

  @Nested
  class ExternalDataFile extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      return QcowFile.create(directory.resolve("disk.qcow2"), CreateOptions.of(size).withDataFile(directory.resolve("disk.data").toString(), false));
    }
  }

  @Nested
  class OverlayOnQcow2Base extends DiskFileContract {
    @Override
    DiskFile create(Path directory, long size) throws IOException {
      QcowFile.create(directory.resolve("base.qcow2"), CreateOptions.of(size)).close();
      return QcowFile.create(directory.resolve("overlay.qcow2"),
          CreateOptions.of(size).withBacking("base.qcow2", ImageFormat.QCOW2).withClusterSize(16384));
    }
  }
}
