package io.qcow4j.qcow2;

import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.Secrets;

/**
 * What an image spec changes about opening one qcow2 layer: its format options (a backing file
 * of its own or none, another data file, the cache budget, checks against the header) and the
 * secrets they may name.
 */
record LayerOverrides(FormatOptions options, Secrets secrets) {
  /** Nothing changed: the header decides. */
  static final LayerOverrides NONE = new LayerOverrides(FormatOptions.none(), Secrets.none());
}
