package io.qcow4j.disk;

import io.qcow4j.probe.FormatProber;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** The image formats qcow4j reads and writes. */
public enum ImageFormat {
  /** A raw image: guest byte N is byte N of the file. */
  RAW,
  /** A qcow2 image, version 2 or 3. */
  QCOW2,
  /** A VMware VMDK image (every subformat qemu-img creates, and ESX descriptors), read-only. */
  VMDK,
  /** A Virtual PC / Hyper-V VHD image (QEMU's "vpc"): fixed, dynamic or differencing; read-only. */
  VPC,
  /** A VirtualBox VDI image, static or dynamic; read-only. */
  VDI,
  /** A QED image; read-only. */
  QED,
  /** A qcow (version 1) image; read-only. */
  QCOW,
  /** A Hyper-V VHDX image: fixed, dynamic or differencing; read-only. */
  VHDX,
  /** A LUKS1 encrypted volume (QEMU's "luks"): the payload after the LUKS header, read and written. */
  LUKS,
  /** A Bochs growing redolog (QEMU's "bochs"); read-only. */
  BOCHS;

  /**
   * Whether qcow4j opens images of this format for writing (raw, qcow2, luks); the others open only
   * read-only (of those, qcow4j creates vpc, vdi, vhdx, vmdk, qed and qcow images, written once as
   * they are made).
   */
  public boolean writable() {
    return this == RAW || this == QCOW2 || this == LUKS;
  }

  /** The name qemu-img uses for this format ("raw", "qcow2"). */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Parses a qemu-img format name; throws {@link UnsupportedFeatureException} for a format QEMU
   * knows and qcow4j does not read ("image format 'vmdk' is not supported by qcow4j"), or an unknown name.
   */
  public static ImageFormat parse(String name) throws UnsupportedFeatureException {
    for (ImageFormat format : values()) {
      if (format.id().equals(name)) {
        return format;
      }
    }
    if (FormatProber.FORMATS.contains(name)) {
      throw new UnsupportedFeatureException(notSupported(name));
    }
    throw new UnsupportedFeatureException("Unknown or unsupported image format '" + name + "' (supported: raw, qcow2, and read-only vmdk, vpc, vdi, qed, qcow, vhdx, bochs)");
  }

  /**
   * The format of the file at {@code path} as QEMU probes it; a format qcow4j does not read is
   * refused by name, never taken for raw.
   */
  public static ImageFormat probe(Path path) throws IOException {
    String probed = FormatProber.probe(path);
    for (ImageFormat format : values()) {
      if (format.id().equals(probed)) {
        return format;
      }
    }
    throw new UnsupportedFeatureException(path + ": " + notSupported(probed));
  }

  private static String notSupported(String name) {
    return "image format '" + name + "' is not supported by qcow4j";
  }
}
