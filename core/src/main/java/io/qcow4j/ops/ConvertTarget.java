package io.qcow4j.ops;

import io.qcow4j.DiskImages;
import io.qcow4j.formats.ReadOnlyFormats;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The target of qemu-img convert: a new image made as -O and -o say (its options checked as
 * img_convert checks them), or an existing image (-n), then filled by {@link ImageConvert}.
 */
public final class ConvertTarget {
  private ConvertTarget() {}

  /** A conversion that failed making the new target, or writing into the target. */
  public static final class ConvertException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Where it failed: qemu-img reports creation and writing failures differently. */
    public enum Stage {
      /** Making the new target failed. */
      CREATE,
      /** Opening the new target failed once it was made (its backing file, say). */
      OPEN,
      /** Writing into the target failed. */
      WRITE
    }

    private final Stage stage;

    ConvertException(Stage stage, Exception cause) {
      super(cause.getMessage(), cause);
      this.stage = stage;
    }

    /** Where the conversion failed. */
    public Stage stage() {
      return stage;
    }
  }

  /**
   * Creates the target at {@code path} as {@code options} say and copies the sources into it. A raw
   * target without preallocation is written as it is made ({@link ImageConvert#toRaw}, holes for
   * zeros); its failures count as the creation's. With {@code flushes} false (qemu-img convert's
   * default cache mode, unsafe) nothing is flushed to stable storage: the kernel writes it back.
   */
  public static void intoNew(List<DiskFile> sources, String name, ImageFormat format, CreateOptions options,
      long sparseBytes, ImageConvert.Options copyOptions, boolean flushes, ImageConvert.Progress progress)
      throws IOException {
    if (!ProtocolTarget.names(name)) {
      intoNew(sources, Path.of(name), format, options, sparseBytes, copyOptions, flushes, progress);
      return;
    }
    DiskFile target;
    try {
      target = ProtocolTarget.createAndOpen(name, format, options);
    } catch (IOException | RuntimeException e) {
      throw new ConvertException(ConvertException.Stage.CREATE, e);
    }
    // a protocol node does not read as zeros once created: every zero range is written
    copy(sources, target, copyOptions.withTargetIsNew(false), progress);
  }

  /**
   * Creates the target at {@code path} as {@code options} say and copies the sources into it, as
   * {@link #intoNew(List, String, ImageFormat, CreateOptions, long, ImageConvert.Options, boolean,
   * ImageConvert.Progress)} does for a host file.
   */
  public static void intoNew(List<DiskFile> sources, Path path, ImageFormat format, CreateOptions options,
      long sparseBytes, ImageConvert.Options copyOptions, boolean flushes, ImageConvert.Progress progress)
      throws IOException {
    if (format == ImageFormat.RAW && options.preallocation() == Preallocation.OFF) {
      try {
        ImageConvert.toRaw(sources, path, sparseBytes, copyOptions.workers(), flushes, copyOptions.salvage(), progress);
      } catch (IOException | RuntimeException e) {
        throw new ConvertException(ConvertException.Stage.CREATE, e);
      }
      return;
    }
    DiskFile target;
    if (format == ImageFormat.QCOW2 && options.backingFile() != null) {
      // as img_convert: made first (the backing file need not exist), then opened with it
      try {
        QcowFile.createUnsafe(path, options);
      } catch (IOException | RuntimeException e) {
        throw new ConvertException(ConvertException.Stage.CREATE, e);
      }
      try {
        target = QcowFile.open(path, OpenOptions.readWriteDefaults().withFlushes(flushes));
      } catch (IOException | RuntimeException e) {
        throw new ConvertException(ConvertException.Stage.OPEN, e);
      }
    } else {
      try {
        target = format == ImageFormat.QCOW2
            ? QcowFile.create(path, options, OpenOptions.readWriteDefaults().withFlushes(flushes))
            : DiskImages.create(path, format, options);
      } catch (IOException | RuntimeException e) {
        throw new ConvertException(ConvertException.Stage.CREATE, e);
      }
      if (format == ImageFormat.QED && options.qedTableSize() == 1) {
        // img_convert opens what it made: QEMU's qed driver refuses a one-cluster table (its
        // last cluster is its first, which qed_check_table_offset takes for an overflow)
        try (DiskFile made = ReadOnlyFormats.open(format, path,
            OpenOptions.readOnlyDefaults().withForceShare(true).withDescribeOnly(true))) {
          made.size();
        } catch (IOException | RuntimeException e) {
          try {
            target.close();
          } catch (IOException closing) {
            e.addSuppressed(closing);
          }
          throw new ConvertException(ConvertException.Stage.OPEN, e);
        }
      }
    }
    // QEMU's vmdk driver writes compressed clusters as plain ones (its streamOptimized extents
    // deflate every grain themselves)
    ImageConvert.Options copying = format == ImageFormat.VMDK ? copyOptions.withCompress(false) : copyOptions;
    // a new LUKS payload reads as the decryption of zeros, not as zeros (QEMU's luks driver has no
    // zero-init either): its zero ranges are written as zeros
    // a streamOptimized vmdk takes each grain whole, as QEMU's driver does: the zeros of a grain
    // that has data are written too, so that it is complete (and goes into the file) in guest
    // order, as qemu-img convert's whole-grain writes put it
    boolean streamVmdk = format == ImageFormat.VMDK && options.vmdkSubformat().equals("streamOptimized");
    copy(sources, target, copying.withTargetIsNew(format != ImageFormat.LUKS && !streamVmdk), progress);
  }

  /**
   * Copies the sources into an existing image (-n), every zero range written as zeros unless
   * {@code copyOptions.targetIsNew()} says the target reads as zeros (or as its backing file)
   * already (qemu-img's --target-is-zero); refused when it is smaller than the sources or cannot
   * take compressed clusters. Closes the target.
   */
  public static void intoExisting(List<DiskFile> sources, DiskFile target, ImageConvert.Options copyOptions,
      ImageConvert.Progress progress) throws IOException {
    try {
      if (target.size() < totalSize(sources)) {
        throw new InvalidOptionException("output file is smaller than input file");
      }
      if (copyOptions.compress() && !(target instanceof QcowFile)) {
        throw new InvalidOptionException("Compression not supported for this file format");
      }
    } catch (IOException | RuntimeException e) {
      target.close();
      throw e;
    }
    copy(sources, target, copyOptions, progress);
  }

  private static void copy(List<DiskFile> sources, DiskFile target, ImageConvert.Options copyOptions,
      ImageConvert.Progress progress) throws ConvertException {
    try (target) {
      ImageConvert.toImage(sources, target, copyOptions, progress);
    } catch (IOException | RuntimeException e) {
      throw new ConvertException(ConvertException.Stage.WRITE, e);
    }
  }

  private static long totalSize(List<DiskFile> sources) throws IOException {
    long total = 0;
    for (DiskFile source : sources) {
      total += source.size();
    }
    return total;
  }
}
