package io.qcow4j.options;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import java.util.Set;

/** The format and driver names qemu-img 7.2 knows, and which of them qcow4j writes. */
public final class FormatNames {
  /** BlockdevDriver names QEMU 7.2 accepts for backing_fmt; qcow4j opens only raw and qcow2 ones. */
  private static final Set<String> QEMU_DRIVERS = Set.of(
      "blkdebug", "blklogwrites", "blkreplay", "blkverify", "bochs", "cloop", "compress", "copy-before-write",
      "copy-on-read", "dmg", "file", "snapshot-access", "ftp", "ftps", "gluster", "host_cdrom", "host_device", "http",
      "https", "iscsi", "luks", "nbd", "nfs", "null-aio", "null-co", "nvme", "parallels", "preallocate", "qcow",
      "qcow2", "qed", "quorum", "raw", "rbd", "replication", "ssh", "throttle", "vdi", "vhdx", "vmdk", "vpc", "vvfat");
  /** Image formats QEMU reads that qcow4j does not create. */
  /** The formats qcow4j creates, as its refusals list them. */
  static final String CREATED = "raw, qcow2, luks, vpc, vdi, vhdx, vmdk, qed, qcow";
  private static final Set<String> OTHER_IMAGE_FORMATS = Set.of(
      "vmdk", "vdi", "vhdx", "vpc", "qed", "qcow", "luks", "parallels", "cloop", "dmg", "bochs", "vvfat");
  /** Drivers QEMU 7.2 creates images with (a bdrv_co_create_opts); the other drivers cannot create one. */
  private static final Set<String> QEMU_CREATES = Set.of("file", "host_device", "host_cdrom", "raw", "qcow2", "qcow",
      "qed", "vdi", "vhdx", "vmdk", "vpc", "luks", "parallels", "ssh", "gluster", "nfs", "rbd", "iscsi", "iser");
  /** Drivers qemu-img measure knows besides raw and qcow2. */
  private static final Set<String> OTHER_MEASURE_DRIVERS = Set.of("blkdebug", "blklogwrites", "blkverify", "bochs",
      "cloop", "compress", "copy-before-write", "copy-on-read", "dmg", "file", "ftp", "ftps", "gluster",
      "host_cdrom", "host_device", "http", "https", "iscsi", "iser", "luks", "nbd", "nfs", "null-aio", "null-co",
      "nvme", "parallels", "preallocate", "qcow", "qed", "quorum", "rbd", "replication", "snapshot-access", "ssh",
      "throttle", "vdi", "vhdx", "vmdk", "vpc", "vvfat");

  private FormatNames() {}

  /**
   * The format that create's -f or convert's -O names; fails with qemu-img's "Unknown file format
   * 'x'", or saying that qcow4j does not write a format QEMU has.
   */
  public static ImageFormat outputFormat(String name) throws InvalidOptionException {
    return switch (name) {
      case "qcow2" -> ImageFormat.QCOW2;
      case "raw" -> ImageFormat.RAW;
      case "vpc" -> ImageFormat.VPC;
      case "vdi" -> ImageFormat.VDI;
      case "vhdx" -> ImageFormat.VHDX;
      case "luks" -> ImageFormat.LUKS;
      case "vmdk" -> ImageFormat.VMDK;
      case "qed" -> ImageFormat.QED;
      case "qcow" -> ImageFormat.QCOW;
      default -> throw new InvalidOptionException(QEMU_DRIVERS.contains(name) && !QEMU_CREATES.contains(name)
          ? "Format driver '" + name + "' does not support image creation"
          : OTHER_IMAGE_FORMATS.contains(name) ? "Format '" + name + "' is not supported by qcow4j (it creates " + CREATED + ")"
          : "Unknown file format '" + name + "'");
    };
  }

  /** The format measure's -O names; fails as qemu-img measure does for others. */
  public static ImageFormat measuredFormat(String name) throws InvalidOptionException {
    return switch (name) {
      case "qcow2" -> ImageFormat.QCOW2;
      case "raw" -> ImageFormat.RAW;
      default -> throw new InvalidOptionException(OTHER_MEASURE_DRIVERS.contains(name)
          ? "Block driver '" + name + "' does not support size measurement (qcow4j measures raw and qcow2)"
          : "Unknown file format '" + name + "'");
    };
  }

  /** The backing format qcow4j opens with that name; null for a name QEMU knows but qcow4j does not open. */
  static ImageFormat backingFormat(String name) {
    for (ImageFormat format : ImageFormat.values()) {
      if (format.id().equals(name)) {
        return format;
      }
    }
    return null;
  }

  /** Whether QEMU 7.2 has a block driver of that name (what backing_fmt and rebase's -F may name). */
  public static boolean isQemuDriver(String name) {
    return QEMU_DRIVERS.contains(name);
  }

  /**
   * Why a backing image of format {@code name} cannot be opened: "Unknown driver 'x'", or for a
   * format QEMU has, that qcow4j does not read it.
   */
  public static String backingDriverMessage(String name) {
    return OTHER_IMAGE_FORMATS.contains(name) ? "Format '" + name + "' is not supported by qcow4j"
        : "Unknown driver '" + name + "'";
  }
}
