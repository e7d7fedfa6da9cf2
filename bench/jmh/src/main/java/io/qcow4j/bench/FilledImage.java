package io.qcow4j.bench;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** A qcow2 image (64 KiB clusters) whose every cluster is allocated and holds random data, shared by the benchmark's threads. */
@State(Scope.Benchmark)
public class FilledImage {
  /** The virtual size, all of it allocated. */
  @Param("256")
  public int sizeMiB;

  DiskFile disk;
  long size;
  private Path path;

  @Setup(Level.Trial)
  public void create() throws IOException {
    size = (long) sizeMiB << 20;
    path = BenchFiles.newDirectory().resolve("filled.qcow2");
    QcowFile.create(path, CreateOptions.of(size).withClusterSize(65536)).close();
    disk = QcowFile.open(path, OpenOptions.readWriteDefaults());
    ByteBuffer chunk = Blocks.randomDirect(Blocks.FILL_CHUNK, 42);
    for (long offset = 0; offset < size; offset += chunk.capacity()) {
      disk.writeFully(chunk.clear(), offset);
    }
    // Written back before measuring, so that no writeback of the fill runs under the measured writes.
    disk.force(false);
  }

  @TearDown(Level.Trial)
  public void abandon() throws IOException {
    BenchFiles.abandon(path);
  }
}
