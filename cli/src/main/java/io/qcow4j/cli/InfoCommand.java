package io.qcow4j.cli;

import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageInfo.BitmapInfo;
import io.qcow4j.disk.ImageInfo.Qcow2Info;
import io.qcow4j.disk.ImageInfo.VmdkExtentInfo;
import io.qcow4j.disk.ImageInfo.LuksInfo;
import io.qcow4j.disk.ImageInfo.LuksSlotInfo;
import io.qcow4j.disk.ImageInfo.VmdkInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.ops.ImageInfos;
import io.qcow4j.ops.LayerInfo;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.internal.spec.QDict;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** qemu-img info: what an image (and with --backing-chain, every image below it) is. */
final class InfoCommand implements Callable<Integer> {
  /** img_info's options. */
  private static final String SHORT_OPTIONS = ":f:hU";
  private static final List<Getopt.LongOption> LONG_OPTIONS = List.of(
      Getopt.LongOption.flag("help", 'h'),
      Getopt.LongOption.withArgument("format", 'f'),
      Getopt.LongOption.withArgument("output", Invocation.OUTPUT),
      Getopt.LongOption.flag("backing-chain", Invocation.BACKING_CHAIN),
      Getopt.LongOption.withArgument("object", Invocation.OBJECT),
      Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
      Getopt.LongOption.flag("force-share", 'U'));

  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String output = "human";
  boolean backingChain;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private InfoCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_info does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    InfoCommand command = new InfoCommand(invocation);
    Getopt getopt = invocation.getopt(SHORT_OPTIONS, LONG_OPTIONS);
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'U' -> command.forceShare = true;
        case Invocation.OUTPUT -> command.output = getopt.optarg();
        case Invocation.BACKING_CHAIN -> command.backingChain = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting one image file name");
    }
    command.file = operands.getFirst();
    return invocation.execute(command);
  }

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    OutputFormat outputFormat = OutputFormat.parse(output);
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    List<LayerInfo> layers;
    try {
      layers = ImageInfos.describe(image, backingChain,
          OpenOptions.readOnlyDefaults().withSharedPermissions(ImageArguments.SHARE_ALL), secrets);
    } catch (ImageInfos.ChainException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (ImageInfos.OpenFailure e) {
      if (e.filename().equals(image.name())) {
        throw ImageArguments.couldNotOpen(image, e.getCause());
      }
      throw Failures.couldNotOpen(e.filename(), (IOException) e.getCause());
    } catch (IOException e) {
      throw ImageArguments.couldNotOpen(image, e);
    }
    for (LayerInfo layer : layers) {
      if (layer.bitmapsInvalidated()) {
        Images.warnBitmapsInvalidated(err);
      }
    }
    if (outputFormat == OutputFormat.JSON) {
      if (backingChain) {
        out.println(QDict.toPrettyJson(layers.stream().map(InfoCommand::toJson).toList()));
      } else {
        out.println(toJson(layers.getFirst()).toPrettyJson());
      }
    } else {
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < layers.size(); i++) {
        if (i > 0) {
          text.append('\n');
        }
        appendHuman(text, layers.get(i));
      }
      out.print(text);
    }
    out.flush();
    return 0;
  }

  /** qemu's ImageInfo as the QAPI visitor turns it into a QDict. */
  static QDict toJson(LayerInfo layer) {
    ImageInfo info = layer.info();
    QDict json = new QDict()
        .put("filename", layer.filename())
        .put("format", layer.driver())
        .put("dirty-flag", layer.driverInfo() ? info.dirty() : null)
        .put("actual-size", info.actualSize() >= 0 ? info.actualSize() : null)
        .put("virtual-size", info.virtualSize());
    if (info.clusterSize() > 0) {
      json.put("cluster-size", info.clusterSize());
    }
    if (info.encrypted()) {
      json.put("encrypted", true);
    }
    if (hasBacking(info)) {
      json.put("backing-filename", info.backingFile());
      json.put("full-backing-filename", layer.fullBackingFilename());
      json.put("backing-filename-format", emptyToNull(info.backingFormat()));
    }
    if (info.qcow2() != null && !info.qcow2().snapshots().isEmpty()) {
      List<Object> snapshots = new ArrayList<>();
      for (SnapshotInfo snapshot : info.qcow2().snapshots()) {
        snapshots.add(new QDict()
            .put("id", snapshot.id())
            .put("name", snapshot.name())
            .put("vm-state-size", snapshot.vmStateSize())
            .put("date-sec", snapshot.dateSeconds())
            .put("date-nsec", snapshot.dateNanoseconds())
            .put("vm-clock-sec", snapshot.vmClockNanoseconds() / 1_000_000_000L)
            .put("vm-clock-nsec", snapshot.vmClockNanoseconds() % 1_000_000_000L)
            .put("icount", snapshot.icount() >= 0 ? snapshot.icount() : null));
      }
      json.put("snapshots", snapshots);
    }
    if (info.qcow2() != null) {
      json.put("format-specific", new QDict().put("type", "qcow2").put("data", qcow2Specific(info.qcow2())));
    }
    if (info.vmdk() != null) {
      json.put("format-specific", new QDict().put("type", "vmdk").put("data", vmdkSpecific(info.vmdk())));
    }
    if (info.luks() != null) {
      json.put("format-specific", new QDict().put("type", "luks").put("data", luksSpecific(info.luks(), new QDict())));
    }
    return json;
  }

  /** ImageInfoSpecificQCow2: v2 images report only compat, compression type and refcount bits. */
  static QDict qcow2Specific(Qcow2Info qcow2) {
    QDict data = new QDict();
    boolean v2 = qcow2.version() < 3;
    data.put("compat", qcow2.compat() != null ? qcow2.compat() : (v2 ? "0.10" : "1.1"));
    if (!v2) {
      data.put("lazy-refcounts", qcow2.lazyRefcounts());
      data.put("corrupt", qcow2.corrupt());
      data.put("extended-l2", qcow2.extendedL2());
    }
    data.put("refcount-bits", (long) qcow2.refcountBits());
    if (!v2 && qcow2.bitmaps() != null && !qcow2.bitmaps().isEmpty()) {
      List<Object> bitmaps = new ArrayList<>();
      for (BitmapInfo bitmap : qcow2.bitmaps()) {
        bitmaps.add(new QDict()
            .put("name", bitmap.name())
            .put("granularity", bitmap.granularity())
            .put("flags", new ArrayList<Object>(bitmap.flags())));
      }
      data.put("bitmaps", bitmaps);
    }
    if (!v2 && qcow2.dataFile() != null) {
      // an image with a data file whose name it does not record (amend -o data_file=) has no name to print
      if (!qcow2.dataFile().isEmpty()) {
        data.put("data-file", qcow2.dataFile());
      }
      data.put("data-file-raw", qcow2.dataFileRaw());
    }
    data.put("compression-type", qcow2.compressionType() != null ? qcow2.compressionType() : "zlib");
    if (qcow2.encryption() != null) {
      QDict encrypt = new QDict().put("format", qcow2.encryption().format());
      if (qcow2.encryption().luks() != null) {
        luksSpecific(qcow2.encryption().luks(), encrypt);
      }
      data.put("encrypt", encrypt);
    }
    return data;
  }

  /** QCryptoBlockInfoLUKS's members, into {@code data}. */
  static QDict luksSpecific(LuksInfo luks, QDict data) {
    List<Object> slots = new ArrayList<>();
    for (LuksSlotInfo slot : luks.slots()) {
      slots.add(new QDict()
          .put("active", slot.active())
          .put("iters", slot.iters())
          .put("key-offset", slot.keyOffset())
          .put("stripes", slot.stripes()));
    }
    return data
        .put("cipher-alg", luks.cipherAlg())
        .put("cipher-mode", luks.cipherMode())
        .put("ivgen-alg", luks.ivgenAlg())
        .put("ivgen-hash-alg", luks.ivgenHashAlg())
        .put("hash-alg", luks.hashAlg())
        .put("payload-offset", luks.payloadOffset())
        .put("master-key-iters", luks.masterKeyIters())
        .put("uuid", luks.uuid())
        .put("slots", slots);
  }

  /** ImageInfoSpecificVmdk: CIDs, create type and one VmdkExtentInfo per extent. */
  static QDict vmdkSpecific(VmdkInfo vmdk) {
    List<Object> extents = new ArrayList<>();
    for (VmdkExtentInfo extent : vmdk.extents()) {
      QDict entry = new QDict();
      if (extent.compressed()) {
        entry.put("compressed", true);
      }
      entry.put("virtual-size", extent.virtualSize());
      entry.put("filename", extent.filename());
      if (extent.clusterSize() != null) {
        entry.put("cluster-size", extent.clusterSize());
      }
      entry.put("format", extent.format());
      extents.add(entry);
    }
    return new QDict()
        .put("cid", vmdk.cid())
        .put("parent-cid", vmdk.parentCid())
        .put("create-type", vmdk.createType())
        .put("extents", extents);
  }

  /** qemu's bdrv_image_info_dump. */
  static void appendHuman(StringBuilder text, LayerInfo layer) {
    ImageInfo info = layer.info();
    text.append("image: ").append(layer.filename()).append('\n');
    text.append("file format: ").append(layer.driver()).append('\n');
    text.append("virtual size: ").append(QemuNumbers.humanSize(info.virtualSize()))
        .append(" (").append(info.virtualSize()).append(" bytes)\n");
    text.append("disk size: ").append(info.actualSize() >= 0 ? QemuNumbers.humanSize(info.actualSize()) : "unavailable")
        .append('\n');
    if (info.encrypted()) {
      text.append("encrypted: yes\n");
    }
    Qcow2Info qcow2 = info.qcow2();
    if (info.clusterSize() > 0) {
      text.append("cluster_size: ").append(info.clusterSize()).append('\n');
    }
    if (info.dirty()) {
      text.append("cleanly shut down: no\n");
    }
    if (hasBacking(info)) {
      text.append("backing file: ").append(info.backingFile());
      if (layer.fullBackingFilename() == null) {
        text.append(" (cannot determine actual path)");
      } else if (!info.backingFile().equals(layer.fullBackingFilename())) {
        text.append(" (actual path: ").append(layer.fullBackingFilename()).append(')');
      }
      text.append('\n');
      if (emptyToNull(info.backingFormat()) != null) {
        text.append("backing file format: ").append(info.backingFormat()).append('\n');
      }
    }
    if (qcow2 != null && !qcow2.snapshots().isEmpty()) {
      text.append("Snapshot list:\n");
      text.append(String.format("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT"))
          .append('\n');
      for (SnapshotInfo snapshot : qcow2.snapshots()) {
        text.append(snapshotRow(snapshot)).append('\n');
      }
    }
    if (qcow2 != null) {
      text.append("Format specific information:\n");
      qcow2Specific(qcow2).dumpHuman(text, 1);
    }
    if (info.vmdk() != null) {
      text.append("Format specific information:\n");
      vmdkSpecific(info.vmdk()).dumpHuman(text, 1);
    }
    if (info.luks() != null) {
      text.append("Format specific information:\n");
      luksSpecific(info.luks(), new QDict()).dumpHuman(text, 1);
    }
  }

  /** The snapshot table's date format, made on first use (java.time's set-up is milliseconds of start-up). */
  private static final class SnapshotDate {
    static final DateTimeFormatter FORMAT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
  }

  /** One row of qemu's bdrv_snapshot_dump; the date in the local time zone as qemu prints it. */
  static String snapshotRow(SnapshotInfo snapshot) {
    String date = SnapshotDate.FORMAT.format(Instant.ofEpochSecond(snapshot.dateSeconds()).atZone(ZoneId.systemDefault()));
    long clockNanos = snapshot.vmClockNanoseconds();
    long seconds = clockNanos / 1_000_000_000L;
    String clock = String.format("%02d:%02d:%02d.%03d", seconds / 3600, (seconds / 60) % 60, seconds % 60,
        (clockNanos / 1_000_000) % 1000);
    String icount = snapshot.icount() >= 0 ? Long.toString(snapshot.icount()) : "";
    return String.format("%-9s %-16s %8s%20s%13s%11s", snapshot.id(), snapshot.name(),
        QemuNumbers.humanSize(snapshot.vmStateSize()), date, clock, icount);
  }

  private static boolean hasBacking(ImageInfo info) {
    return info.backingFile() != null && !info.backingFile().isEmpty();
  }

  private static String emptyToNull(String text) {
    return text == null || text.isEmpty() ? null : text;
  }
}
