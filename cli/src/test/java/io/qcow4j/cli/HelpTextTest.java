package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The help texts are the QEMU 7.2 tools' own, under the program's name, with qcow4j's formats and version. */
class HelpTextTest {

  @Test
  void qemuImgHelpIsQemuImgs() {
    String ours = HelpText.qemuImg(Program.QEMU_IMG);
    String theirs = Qemu.check("qemu-img", "--help");
    assertThat(ours).startsWith(Program.QEMU_IMG.versionText());
    // after the version lines, the same text up to the list of formats, which is qcow4j's
    assertThat(afterVersion(ours)).isEqualTo(upToFormats(afterVersion(theirs)) + "Supported formats: file qcow2 raw\n");
  }

  @Test
  void qcow4jHelpListsItsOwnCommands() {
    String help = HelpText.qemuImg(Program.QCOW4J);
    assertThat(help).startsWith("qcow4j version ").contains("usage: qcow4j [standard options] command [command options]")
        .contains("\n  io [").contains("\n  serve [").contains("\n  help [command]\n").doesNotContain("\n  dd ")
        .contains("\n  bitmap ");
  }

  @Test
  void qemuIoAndQemuNbdHelpAreTheirs() {
    String io = Qemu.check("qemu-io", "--help");
    assertThat(io).startsWith(HelpText.qemuIo("qemu-io"));
    String nbd = Qemu.check("qemu-nbd", "--help");
    assertThat(nbd).startsWith(HelpText.qemuNbd("qemu-nbd"));
  }

  private static String afterVersion(String help) {
    return help.substring(help.indexOf("usage: "));
  }

  private static String upToFormats(String help) {
    return help.substring(0, help.indexOf("Supported formats:"));
  }
}
