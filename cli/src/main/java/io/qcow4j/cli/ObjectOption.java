package io.qcow4j.cli;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** --object, as the QEMU tools take it: each defines a secret ("--object help" lists the types). */
final class ObjectOption {
  @Option(names = "--object", paramLabel = "OBJECTDEF",
      description = "Define a secret: secret,id=ID,data=TEXT|file=PATH[,format=raw|base64][,keyid=ID,iv=IV].")
  List<String> definitions = new ArrayList<>();
}
