package io.qcow4j.bench;

import io.qcow4j.internal.storage.FileStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** A plain host file full of random data, opened as FileStorage: the same bytes as FilledImage without qcow2. */
@State(Scope.Benchmark)
public class FilledHostFile {
  /** The file's size, as FilledImage's virtual size. */
  @Param("256")
  public int sizeMiB;

  FileStorage storage;
  long size;
  private Path path;

  @Setup(Level.Trial)
  public void create() throws IOException {
    size = (long) sizeMiB << 20;
    path = BenchFiles.newDirectory().resolve("filled.raw");
    storage = FileStorage.create(path, false);
    ByteBuffer chunk = Blocks.randomDirect(Blocks.FILL_CHUNK, 42);
    for (long offset = 0; offset < size; offset += chunk.capacity()) {
      storage.write(chunk.clear(), offset);
    }
    // Written back before measuring, as FilledImage is.
    storage.force(false);
  }

  @TearDown(Level.Trial)
  public void abandon() throws IOException {
    BenchFiles.abandon(path);
  }
}
