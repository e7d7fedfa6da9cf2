package io.qcow4j.internal.storage;

import io.qcow4j.storage.ProtocolDriver;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The protocol drivers other modules supply, found once with {@link ServiceLoader} on the first
 * look-up (a command line that names only files never loads them).
 */
public final class ProtocolDrivers {
  private ProtocolDrivers() {}

  private static final class Loaded {
    static final List<ProtocolDriver> DRIVERS = ServiceLoader.load(ProtocolDriver.class).stream()
        .map(ServiceLoader.Provider::get).toList();
  }

  /** The driver whose name is {@code name}, if a module supplies one. */
  public static Optional<ProtocolDriver> named(String name) {
    return Loaded.DRIVERS.stream().filter(driver -> driver.name().equals(name)).findFirst();
  }

  /** The driver that answers the filename prefix {@code protocol} ("nbd+unix"), if any. */
  public static Optional<ProtocolDriver> forProtocol(String protocol) {
    return Loaded.DRIVERS.stream().filter(driver -> driver.protocols().contains(protocol)).findFirst();
  }
}
