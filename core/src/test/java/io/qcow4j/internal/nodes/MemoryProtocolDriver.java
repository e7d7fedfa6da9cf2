package io.qcow4j.internal.nodes;

import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/** A protocol driver of the tests ("test-mem", filename prefix "test-mem:"): memory of "size" bytes. */
public final class MemoryProtocolDriver implements ProtocolDriver {
  @Override
  public String name() {
    return "test-mem";
  }

  @Override
  public List<String> protocols() {
    return List.of("test-mem");
  }

  @Override
  public Storage open(Map<String, String> options, boolean readOnly) throws IOException {
    String size = options.remove("size");
    options.remove("filename");
    return new MemoryStorage("test-mem", new byte[size == null ? 4096 : Integer.parseInt(size)], readOnly);
  }
}
