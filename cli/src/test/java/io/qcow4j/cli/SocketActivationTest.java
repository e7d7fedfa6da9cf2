package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** check_socket_activation's reading of LISTEN_PID and LISTEN_FDS, and qemu-nbd's refusals' order. */
class SocketActivationTest {
  @Test
  void countsOnlyWhenListenPidIsThisProcess() {
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "1"), 42)).isEqualTo(1);
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "3"), 42)).isEqualTo(3);
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "43", "LISTEN_FDS", "1"), 42)).isZero();
    assertThat(SocketActivation.count(Map.of("LISTEN_FDS", "1"), 42)).isZero();
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "42"), 42)).isZero();
    // qemu_strtoul: the whole string a number, else no activation
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "42x", "LISTEN_FDS", "1"), 42)).isZero();
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", "42", "LISTEN_FDS", ""), 42)).isZero();
    assertThat(SocketActivation.count(Map.of("LISTEN_PID", " 42", "LISTEN_FDS", "+1"), 42)).isEqualTo(1);
  }

  @Test
  void refusalsInQemuNbdsOrder() {
    assertThat(SocketActivation.refusal("/dev/nbd0", "/s", "h", 1, "l", true))
        .isEqualTo("NBD device can't be set when using socket activation");
    assertThat(SocketActivation.refusal(null, "/s", "h", 1, "l", true))
        .isEqualTo("Unix socket can't be set when using socket activation");
    assertThat(SocketActivation.refusal(null, null, "h", 1, "l", true))
        .isEqualTo("The interface can't be set when using socket activation");
    assertThat(SocketActivation.refusal(null, null, null, 1, "l", true))
        .isEqualTo("TCP port number can't be set when using socket activation");
    assertThat(SocketActivation.refusal(null, null, null, null, "l", true))
        .isEqualTo("SELinux label can't be set when using socket activation");
    assertThat(SocketActivation.refusal(null, null, null, null, null, true))
        .isEqualTo("List mode is incompatible with socket activation");
    assertThat(SocketActivation.refusal(null, null, null, null, null, false)).isNull();
  }
}
