package io.qcow4j.options;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;

/**
 * qemu-img amend's -o list for qcow2, read as img_amend and qcow2_amend_options read it: a name
 * only creation takes is refused with qemu-img's hint, encryption options are refused (an image
 * qcow4j opens has no encryption), and the compat level is named. What depends on the image (the
 * refcount width, the data file, the backing file) is checked when it is amended.
 */
public final class AmendOptionsReader {
  private AmendOptionsReader() {}

  /** The changes a -o list asks for. */
  public static AmendOptions read(String optionList) throws InvalidOptionException {
    OptionValues values;
    try {
      values = OptionValues.parse(OptionLists.qcow2Amend(), optionList);
    } catch (InvalidOptionException e) {
      throw onlyForCreation(optionList, e);
    }
    for (OptionDescriptor descriptor : values.list().descriptors()) {
      if (descriptor.name().startsWith("encrypt.") && values.has(descriptor.name())) {
        throw new InvalidOptionException("Can't amend encryption options - encryption not present");
      }
    }
    AmendOptions options = AmendOptions.none();
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

  /** img_amend's second try: when the list reads as creation options, a hint says so. */
  private static InvalidOptionException onlyForCreation(String optionList, InvalidOptionException failure) {
    try {
      OptionValues.parse(OptionLists.qcow2Amend().append(OptionLists.create(ImageFormat.QCOW2)), optionList);
    } catch (InvalidOptionException e) {
      return failure;
    }
    return new InvalidOptionException(failure.getMessage() + "\nThis option is only supported for image creation");
  }
}
