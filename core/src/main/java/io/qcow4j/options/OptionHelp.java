package io.qcow4j.options;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;

/** What qemu-img prints for -o help (or -o ?), per command and format. */
public final class OptionHelp {
  private OptionHelp() {}

  /**
   * print_block_option_help, for create and convert: the format's options, with the file protocol's
   * when a file name is given, else a note that the protocol may have more.
   */
  public static String create(ImageFormat format, String filename) {
    if (filename != null) {
      return "Supported options:\n" + OptionLists.createOnFile(format).helpText();
    }
    return "Supported " + format.id() + " options:\n" + OptionLists.create(format).helpText()
        + "\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n";
  }

  /** print_amend_option_help: qcow2's amend options; raw images cannot be amended. */
  public static String amend(ImageFormat format) throws InvalidOptionException {
    if (format != ImageFormat.QCOW2) {
      throw new InvalidOptionException("Format driver '" + format.id() + "' does not support option amendment");
    }
    return "Amend options for 'qcow2':\n" + OptionLists.qcow2Amend().helpText();
  }

  /**
   * print_amend_option_help for a format named by -f before any image is opened: qcow2's options,
   * or why the name has none.
   */
  public static String amend(String formatName) throws InvalidOptionException {
    if (formatName.equals("qcow2") || formatName.equals("raw")) {
      return amend(formatName.equals("qcow2") ? ImageFormat.QCOW2 : ImageFormat.RAW);
    }
    throw new InvalidOptionException(FormatNames.isQemuDriver(formatName)
        ? "Format driver '" + formatName + "' does not support option amendment"
        : "Unknown file format '" + formatName + "'");
  }
}
