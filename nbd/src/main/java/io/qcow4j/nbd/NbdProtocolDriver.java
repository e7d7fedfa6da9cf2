package io.qcow4j.nbd;

import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * QEMU's "nbd" protocol driver for image specs (found by core through {@link java.util.ServiceLoader}):
 * "nbd:", "nbd://", "nbd+tcp://" and "nbd+unix://" names and driver=nbd options open an
 * {@link NbdStorage}.
 */
public final class NbdProtocolDriver implements ProtocolDriver {
  /** The service loader's constructor. */
  public NbdProtocolDriver() {}

  @Override
  public String name() {
    return "nbd";
  }

  @Override
  public List<String> protocols() {
    return List.of("nbd", "nbd+tcp", "nbd+unix");
  }

  @Override
  public Storage open(Map<String, String> options, boolean readOnly) throws IOException {
    NbdTarget target = NbdTarget.read(options);
    // QEMU's tools open images with auto-read-only where they only read
    return NbdStorage.open(target, readOnly, false);
  }
}
