package io.qcow4j.qcow2.format;

import java.util.Arrays;

/** One header extension as stored: its type and its data (without the padding). */
public record HeaderExtension(int type, byte[] data) {
  public static final int END = 0;
  public static final int BACKING_FORMAT = 0xe2792aca;
  public static final int FEATURE_NAME_TABLE = 0x6803f857;
  public static final int BITMAPS = 0x23852875;
  public static final int FULL_DISK_ENCRYPTION = 0x0537be77;
  public static final int EXTERNAL_DATA_FILE = 0x44415441;

  public HeaderExtension {
    data = data.clone();
  }

  @Override
  public byte[] data() {
    return data.clone();
  }

  /** The bytes this extension takes in the header area: type, length, data padded to 8. */
  public int encodedLength() {
    return 8 + ((data.length + 7) & ~7);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof HeaderExtension that && type == that.type && Arrays.equals(data, that.data);
  }

  @Override
  public int hashCode() {
    return 31 * type + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return String.format("HeaderExtension[type=0x%08x, length=%d]", type, data.length);
  }
}
