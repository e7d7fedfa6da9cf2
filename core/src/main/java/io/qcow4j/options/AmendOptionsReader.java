package io.qcow4j.options;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.KeySlotAmendment;

/**
 * qemu-img amend's -o list for qcow2 or raw LUKS, read as img_amend and qcow2_amend_options (or
 * block/crypto.c's amend) read it: a name only creation takes is refused with qemu-img's hint, the
 * compat level is named, and the LUKS key slot options (encrypt.* for qcow2) become a
 * {@link KeySlotAmendment}. What depends on the image (the refcount width, the data file, the
 * backing file, whether it is encrypted, the key slot options' rules) is checked when it is amended.
 */
public final class AmendOptionsReader {
  private AmendOptionsReader() {}

  /** The changes a -o list asks for of a qcow2 image (its encryption checked when it is amended). */
  public static AmendOptions read(String optionList) throws InvalidOptionException {
    return read(ImageFormat.QCOW2, optionList, "luks");
  }

  /**
   * The changes a -o list asks for of an image of {@code format} (qcow2 or LUKS) whose encryption
   * is {@code encryption} ("luks", "aes", or null for none): qcow2_amend_options looks at the
   * encrypt.* options before the others, so an image without LUKS encryption refuses them first.
   */
  public static AmendOptions read(ImageFormat format, String optionList, String encryption)
      throws InvalidOptionException {
    OptionList list = OptionLists.amend(format);
    if (list == null) {
      throw new InvalidOptionException("Format driver '" + format.id() + "' does not support option amendment");
    }
    OptionValues values;
    try {
      values = OptionValues.parse(list, optionList);
    } catch (InvalidOptionException e) {
      throw onlyForCreation(format, optionList, e);
    }
    if (format == ImageFormat.LUKS) {
      return AmendOptions.none().withKeySlots(keySlots(values, ""));
    }
    AmendOptions options = AmendOptions.none();
    for (OptionDescriptor descriptor : values.list().descriptors()) {
      if (descriptor.name().startsWith("encrypt.") && values.has(descriptor.name())) {
        if (encryption == null) {
          throw new InvalidOptionException("Can't amend encryption options - encryption not present");
        }
        if (!encryption.equals("luks")) {
          throw new InvalidOptionException("Only LUKS encryption options can be amended");
        }
        options = options.withKeySlots(keySlots(values, "encrypt."));
        break;
      }
    }
    if (values.has("size")) {
      options = options.withSize(values.number("size", 0));
    }
    String compatName = values.string("compat");
    if (compatName != null) {
      Compat compat = Compat.fromName(compatName);
      if (compat == null) {
        throw new InvalidOptionException("Unknown compatibility level " + compatName);
      }
      options = options.withCompat(compat);
    }
    if (values.has("backing_file")) {
      options = options.withBackingFile(values.string("backing_file"));
    }
    if (values.has("backing_fmt")) {
      options = options.withBackingFormat(values.string("backing_fmt"));
    }
    if (values.has("data_file")) {
      options = options.withDataFile(values.string("data_file"));
    }
    if (values.has("data_file_raw")) {
      options = options.withDataFileRaw(values.bool("data_file_raw", false));
    }
    if (values.has("lazy_refcounts")) {
      options = options.withLazyRefcounts(values.bool("lazy_refcounts", false));
    }
    if (values.has("refcount_bits")) {
      // qcow2_amend_options keeps the width in an int
      options = options.withRefcountBits((int) values.number("refcount_bits", 16));
    }
    return options;
  }

  /** The key slot options under {@code prefix}, as given. */
  private static KeySlotAmendment keySlots(OptionValues values, String prefix) {
    String keyslot = prefix + "keyslot";
    String iterTime = prefix + "iter-time";
    return KeySlotAmendment.of(values.string(prefix + "state"), values.string(prefix + "new-secret"),
        values.string(prefix + "old-secret"), values.has(keyslot) ? values.number(keyslot, 0) : null,
        values.has(iterTime) ? values.number(iterTime, 0) : null);
  }

  /** img_amend's second try: when the list reads as creation options, a hint says so. */
  private static InvalidOptionException onlyForCreation(ImageFormat format, String optionList,
      InvalidOptionException failure) {
    try {
      OptionValues.parse(OptionLists.amend(format).append(OptionLists.create(format)), optionList);
    } catch (InvalidOptionException e) {
      return failure;
    }
    return new InvalidOptionException(failure.getMessage() + "\nThis option is only supported for image creation");
  }
}
