package io.qcow4j.cli;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The messages of convert and amend about backing files, as qemu-img prints them (side by side,
 * iotest 082): a convert target made with a backing file that does not exist fails to open, not
 * to be made; amend names the rebase command as the tool is called.
 */
class ConvertAmendBackingMessagesTest {

  @Test
  void aConvertTargetWhoseBackingFileIsMissingFailsToOpen() {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("source"), "1M");
    }
    both.run("qemu-img", "convert", "-O", "qcow2", "-o", "backing_fmt=qcow2,backing_file=@/nothing,,help",
        "@/source", "@/target").same();
  }

  @Test
  void amendingTheBackingFileIsRefusedWithQemusHint() {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("base"), "1M");
      Qemu.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base", "-F", "qcow2", dir.resolve("image").toString());
    }
    both.run("qemu-img", "amend", "-o", "backing_file=other", "@/image").same();
  }
}
