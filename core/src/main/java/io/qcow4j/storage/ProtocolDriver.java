package io.qcow4j.storage;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A block protocol driver that another module supplies (QEMU's "nbd", ...): it turns the options of
 * one node of an image spec into a {@link Storage}. Drivers are found with {@link
 * java.util.ServiceLoader} (module path: {@code provides io.qcow4j.storage.ProtocolDriver with ...};
 * class path: {@code META-INF/services/io.qcow4j.storage.ProtocolDriver}); the built-in drivers
 * (file, null-co, blkdebug, raw, ...) are not looked up here.
 */
public interface ProtocolDriver {
  /** The driver's name as a spec's "driver" option spells it ("nbd"). */
  String name();

  /**
   * The filename prefixes that select this driver when a plain image name starts with
   * "PREFIX:" (QEMU's protocol_name and its aliases: "nbd", "nbd+tcp", "nbd+unix"); none by default.
   */
  default List<String> protocols() {
    return List.of();
  }

  /**
   * Opens the node. {@code options} holds the node's options as QemuOpts strings with flat dotted
   * keys ("server.host", "export"; "filename" when a file name was given, the plain image name
   * included), the generic ones (driver, read-only, node-name, cache.*, ...) already taken out.
   * The driver removes each option it takes; a key it leaves is refused by the caller with
   * QEMU's "Block protocol 'NAME' doesn't support the option 'KEY'". Failures are
   * {@link IOException}s with QEMU's message (the caller adds "Could not open 'NAME': ").
   */
  Storage open(Map<String, String> options, boolean readOnly) throws IOException;
}
