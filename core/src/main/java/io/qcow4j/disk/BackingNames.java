package io.qcow4j.disk;

/** Where the backing file (or external data file) an image names lies, worked out as QEMU does. */
public final class BackingNames {
  private BackingNames() {}

  /**
   * QEMU's path_combine: an absolute name, or one with a protocol prefix ("json:{...}"), as it is; a relative one taken from the directory part of
   * the image's name exactly as written (no normalisation), so that messages name the file as
   * qemu-img names it.
   */
  public static String fullName(String imageName, String backingName) {
    int colon = backingName.indexOf(':');
    int firstSlash = backingName.indexOf('/');
    if (backingName.startsWith("/") || (colon >= 0 && (firstSlash < 0 || colon < firstSlash))) {
      // absolute, or naming a protocol (QEMU's path_has_protocol: "json:{...}", "nbd://..."): as it is
      return backingName;
    }
    int slash = imageName.lastIndexOf('/');
    return imageName.substring(0, slash + 1) + backingName;
  }
}
