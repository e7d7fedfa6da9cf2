package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The ssh protocol driver's options and connection, side by side with qemu-img (iotest 162): every
 * spec here fails before an SSH session, with QEMU's message.
 */
class SshDriverCommandsTest {

  @ParameterizedTest
  @ValueSource(strings = {
      "json:{\"driver\": \"ssh\", \"host\": \"localhost\", \"port\": \"0\", \"path\": \"/foo\"}",
      "json:{\"driver\": \"ssh\", \"host\": \"localhost\", \"port\": 0.42, \"path\": \"/foo\"}",
      "json:{\"driver\": \"ssh\", \"port\": \"1\", \"path\": \"/foo\"}",
      "json:{\"driver\": \"ssh\", \"host\": \"localhost\", \"path\": \"/foo\", \"bogus\": 1}",
      "json:{\"driver\": \"ssh\", \"host\": \"localhost\"}",
      "json:{\"driver\": \"ssh\", \"server\": {\"host\": \"localhost\", \"port\": \"x\"}, \"path\": \"/foo\"}",
      "json:{\"driver\": \"ssh\", \"host\": \"localhost\", \"port\": \"1\", \"path\": \"/f\", \"host_key_check\": \"maybe\"}",
      "ssh://localhost:1/foo",
      "ssh://localhost"})
  void failsAsQemuImgDoes(String spec) {
    Cli.Result theirs = Qemu.run("qemu-img", "info", spec);
    Cli.Result ours = Cli.run("info", spec);
    assertThat(ours.err().replace("qcow4j:", "qemu-img:")).isEqualTo(theirs.err());
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"driver=ssh,host=localhost,port=0,path=/foo", "driver=ssh,host=localhost,port=0.42,path=/foo"})
  void imageOptsFailAsQemuImgDoes(String options) {
    Cli.Result theirs = Qemu.run("qemu-img", "info", "--image-opts", options);
    Cli.Result ours = Cli.run("info", "--image-opts", options);
    assertThat(ours.err().replace("qcow4j:", "qemu-img:")).isEqualTo(theirs.err());
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode());
  }
}
