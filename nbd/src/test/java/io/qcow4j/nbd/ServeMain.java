package io.qcow4j.nbd;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.nio.file.Path;

/** Serves an image on a Unix socket the way the serve command does, until SIGTERM; for the signal test. */
final class ServeMain {
  private ServeMain() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    DiskFile disk = new ReportingDisk(DiskImages.open(Path.of(args[1]), OpenOptions.readWriteDefaults()));
    NbdServer server = NbdServer.builder().disk(disk).unixSocket(Path.of(args[0]))
        .persistent(true).closeDiskOnStop(true).stopOnShutdown(true).start();
    server.awaitTermination();
  }
}

/** Says on stdout when the disk has been closed, so that the test sees the shutdown hook finish its work. */
final class ReportingDisk extends ForwardingDisk {
  ReportingDisk(DiskFile delegate) {
    super(delegate);
  }

  @Override
  public void close() throws IOException {
    super.close();
    System.out.println("closed disk");
    System.out.flush();
  }
}
