package io.qcow4j.cli;

import picocli.CommandLine.Option;

/** --image-opts: the image argument is an option string (driver=qcow2,file.filename=x,file.locking=off). */
final class ImageOptsOption {
  @Option(names = "--image-opts", description = "FILE is an option string: driver=qcow2,file.filename=PATH,...")
  boolean enabled;
}
