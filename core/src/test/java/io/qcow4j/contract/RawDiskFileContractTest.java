package io.qcow4j.contract;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import java.io.IOException;
import java.nio.file.Path;

class RawDiskFileContractTest extends DiskFileContract {
  @Override
  DiskFile create(Path directory, long size) throws IOException {
    return DiskImages.create(directory.resolve("disk.raw"), ImageFormat.RAW, CreateOptions.of(size));
  }
}
