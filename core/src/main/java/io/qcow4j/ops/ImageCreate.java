package io.qcow4j.ops;

import io.qcow4j.disk.Encryption;
import io.qcow4j.luks.LuksVolume;
import io.qcow4j.spec.Secrets;
import java.util.Arrays;
import io.qcow4j.DiskImages;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.options.CreateOptionsReader;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.OptionLists;
import io.qcow4j.options.OptionValues;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * qemu-img create (QEMU's bdrv_img_create) in two steps: {@link #plan} reads the -o list, adds the
 * size, backing file and backing format given apart from it, opens the backing file to check it and
 * to learn the size, and refuses what qemu-img refuses before it prints its "Formatting" line;
 * {@link Plan#create} then checks the options as the format does and makes the image.
 */
public final class ImageCreate {
  private ImageCreate() {}

  /** The backing file could not be opened; {@code fullName} is where it was looked for. */
  public static final class BackingOpenException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String fullName;

    BackingOpenException(String fullName, Exception cause) {
      super("Could not open '" + fullName + "': " + cause.getMessage(), cause);
      this.fullName = fullName;
    }

    /** The backing file's name, relative to the new image's directory. */
    public String fullName() {
      return fullName;
    }
  }

  /** A new image whose options passed qemu-img's first checks. */
  public static final class Plan {
    private final String filename;
    private final ImageFormat format;
    private final OptionValues values;
    private final long size;
    private final Secrets secrets;

    private Plan(String filename, ImageFormat format, OptionValues values, long size, Secrets secrets) {
      this.filename = filename;
      this.format = format;
      this.values = values;
      this.size = size;
      this.secrets = secrets;
    }

    /** The line qemu-img create prints before it creates: "Formatting 'x', fmt=qcow2 cluster_size=65536 ...". */
    public String formattingLine() {
      return "Formatting '" + filename + "', fmt=" + format.id() + " " + values.describe();
    }

    /** The engine's options, checked as the format checks them (qemu-img's messages). */
    public CreateOptions options() throws InvalidOptionException {
      return CreateOptionsReader.read(format, values, size);
    }

    /** The new image's file: the file protocol's prefix names no file (the file driver's create strips it). */
    private Path path() {
      return Path.of(filename.startsWith("file:") ? filename.substring("file:".length()) : filename);
    }

    /** Creates the image (replacing any file there) without opening its backing file. */
    public void create() throws IOException {
      CreateOptionsReader.reparseSizes(format, values);
      CreateOptions options;
      boolean plainFile = !ProtocolTarget.names(filename);
      if (plainFile && CreateOptionsReader.createsFileFirst(format)) {
        CreateOptionsReader.checkBeforeFile(format, values, size);
        try {
          options = options();
        } catch (InvalidOptionException e) {
          // QEMU made the file through the file protocol before the format refused its options
          Files.newOutputStream(path(), StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING).close();
          throw e;
        }
      } else {
        options = options();
      }
      if (options.encryption() != null) {
        boolean qcow2 = format == ImageFormat.QCOW2;
        options = options.withEncryption(withSecret(options.encryption(),
            values.string(qcow2 ? "encrypt.key-secret" : "key-secret"), qcow2 ? "encrypt." : "", secrets));
      }
      if (ProtocolTarget.names(filename)) {
        ProtocolTarget.create(filename, format, options);
        return;
      }
      Path path = path();
      if (format == ImageFormat.QCOW2) {
        QcowFile.createUnsafe(path, options);
      } else {
        try {
          DiskImages.create(path, format, options).close();
        } catch (IOException | RuntimeException e) {
          if (CreateOptionsReader.createsFileFirst(format) && format != ImageFormat.VMDK && !Files.exists(path)) {
            // QEMU made the file through the file protocol before the format failed (vpc's size limit)
            Files.newOutputStream(path, StandardOpenOption.CREATE).close();
          }
          throw e;
        }
      }
    }
  }

  /**
   * {@code encryption} checked as QEMU checks the option values (before the secret), then with the
   * passphrase of the secret {@code keySecretId} names: "Parameter 'PREFIXkey-secret' is required
   * for cipher" without one, "No secret with id" for an undefined one.
   */
  public static Encryption withSecret(Encryption encryption, String keySecretId, String prefix, Secrets secrets)
      throws IOException {
    boolean aes = encryption.format().equals("aes");
    if (!aes) {
      LuksVolume.parameters(encryption);
    }
    if (keySecretId == null) {
      throw new InvalidOptionException("Parameter '" + prefix + "key-secret' is required for cipher");
    }
    byte[] secret = secrets.bytes(keySecretId);
    try {
      return new Encryption(encryption.format(), encryption.cipherAlg(), encryption.cipherMode(),
          encryption.ivgenAlg(), encryption.ivgenHashAlg(), encryption.hashAlg(), encryption.iterTimeMillis(), secret);
    } finally {
      Arrays.fill(secret, (byte) 0);
    }
  }

  /** As {@link #plan(String, ImageFormat, String, long, String, String, boolean, Secrets)} without secrets. */
  public static Plan plan(String filename, ImageFormat format, String optionList, long size, String backingFile,
      String backingFormat, boolean openBacking) throws IOException {
    return plan(filename, format, optionList, size, backingFile, backingFormat, openBacking, Secrets.none());
  }

  /**
   * Reads and checks what qemu-img create was given: {@code optionList} (the -o arguments joined,
   * or null), {@code size} (-1 when not given), {@code backingFile} and {@code backingFormat} (-b
   * and -F, or null), and whether the backing file is opened (not with -u); {@code secrets} holds
   * the secrets a key-secret may name.
   */
  public static Plan plan(String filename, ImageFormat format, String optionList, long size, String backingFile,
      String backingFormat, boolean openBacking, Secrets secrets) throws IOException {
    OptionValues values = OptionValues.parse(OptionLists.createOnFile(format), optionList);
    long imageSize = size;
    if (!values.has("size")) {
      if (size >= 0) {
        values.setNumber("size", size);
      }
    } else if (size >= 0) {
      throw new InvalidOptionException("The image size must be specified only once");
    } else {
      imageSize = values.number("size", -1);
    }
    CreateOptionsReader.setBacking(values, format, backingFile, backingFormat);
    String backing = values.string("backing_file");
    if (backing != null) {
      if (backing.equals(filename)) {
        throw new InvalidOptionException("Error: Trying to create an image with the same filename as the backing file");
      }
      if (backing.isEmpty()) {
        throw new InvalidOptionException("Expected backing file name, got empty string");
      }
    }
    String backingFmt = values.string("backing_fmt");
    if (backing != null && openBacking) {
      long backingSize = backingSize(filename, backing, backingFmt);
      if (imageSize < 0) {
        imageSize = backingSize;
        values.setNumber("size", imageSize);
      }
    } else if (backing != null && backingFmt == null) {
      throw new InvalidOptionException("Backing file specified without backing format");
    }
    if (imageSize < 0) {
      throw new InvalidOptionException("Image creation needs a size parameter");
    }
    return new Plan(filename, format, values, imageSize, secrets);
  }

  /**
   * Opens the backing file as qemu-img create does to check it and learn its size: its name taken
   * from the new image's directory, its format as given, shared with other users, only to be
   * described.
   */
  private static long backingSize(String filename, String backing, String backingFmt) throws IOException {
    String fullName = BackingNames.fullName(filename, backing);
    ImageFormat format = null;
    if (backingFmt != null) {
      format = switch (backingFmt) {
        case "raw" -> ImageFormat.RAW;
        case "qcow2" -> ImageFormat.QCOW2;
        case "vmdk" -> ImageFormat.VMDK;
        case "vpc" -> ImageFormat.VPC;
        case "vdi" -> ImageFormat.VDI;
        case "qed" -> ImageFormat.QED;
        case "qcow" -> ImageFormat.QCOW;
        case "vhdx" -> ImageFormat.VHDX;
        case "luks" -> ImageFormat.LUKS;
        case "bochs" -> ImageFormat.BOCHS;
        default -> throw new InvalidOptionException(FormatNames.backingDriverMessage(backingFmt)
            + "\nCould not open backing image.");
      };
    }
    // bdrv_img_create opens it with BDRV_O_NO_IO: an encrypted backing file needs no secret
    OpenOptions options = OpenOptions.readOnlyDefaults().withFormat(format).withForceShare(true)
        .withDescribeOnly(true);
    try (DiskFile opened = backing.startsWith("json:")
        ? DiskImages.open(ImageSpec.parseWithDriver(backing, null).withDefaultFormat(format), options, Secrets.none())
        : DiskImages.open(Path.of(fullName), options)) {
      if (backingFmt == null) {
        throw new InvalidOptionException("Backing file specified without backing format\nDetected format of "
            + opened.format().id() + ".");
      }
      return opened.size();
    } catch (InvalidOptionException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new BackingOpenException(fullName, e);
    }
  }
}
