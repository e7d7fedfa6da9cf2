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

  /** print_amend_option_help: qcow2's or raw LUKS's amend options; other formats cannot be amended. */
  public static String amend(ImageFormat format) throws InvalidOptionException {
    OptionList list = OptionLists.amend(format);
    if (list == null) {
      throw new InvalidOptionException("Format driver '" + format.id() + "' does not support option amendment");
    }
    return "Amend options for '" + format.id() + "':\n" + list.helpText();
  }

  /**
   * print_amend_option_help for a format named by -f before any image is opened: qcow2's or LUKS's options,
   * or why the name has none.
   */
  public static String amend(String formatName) throws InvalidOptionException {
    switch (formatName) {
      case "qcow2" -> {
        return amend(ImageFormat.QCOW2);
      }
      case "luks" -> {
        return amend(ImageFormat.LUKS);
      }
      case "raw" -> {
        return amend(ImageFormat.RAW);
      }
      default -> {
        // below
      }
    }
    throw new InvalidOptionException(FormatNames.isQemuDriver(formatName)
        ? "Format driver '" + formatName + "' does not support option amendment"
        : "Unknown file format '" + formatName + "'");
  }
}
