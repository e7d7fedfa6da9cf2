package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The names and options of QEMU's nbd driver, read as block/nbd.c reads them, with its messages. */
class NbdTargetTest {

  private static NbdTarget filename(String name) throws IOException {
    Map<String, String> options = new LinkedHashMap<>();
    options.put("filename", name);
    NbdTarget target = NbdTarget.read(options);
    assertThat(options).isEmpty();
    return target;
  }

  private static NbdTarget options(String... keysAndValues) throws IOException {
    Map<String, String> options = new LinkedHashMap<>();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      options.put(keysAndValues[i], keysAndValues[i + 1]);
    }
    return NbdTarget.read(options);
  }

  @Test
  void legacyFilenames() throws IOException {
    assertThat(filename("nbd:unix:/tmp/s.sock"))
        .isEqualTo(new NbdTarget(NbdAddress.unix("/tmp/s.sock"), null, null));
    assertThat(filename("nbd:unix:/tmp/s.sock:exportname=disk"))
        .isEqualTo(new NbdTarget(NbdAddress.unix("/tmp/s.sock"), "disk", null));
    assertThat(filename("nbd:localhost:10810"))
        .isEqualTo(new NbdTarget(NbdAddress.inet("localhost", "10810"), null, null));
    assertThat(filename("nbd:localhost:10810:exportname=a:b"))
        .isEqualTo(new NbdTarget(NbdAddress.inet("localhost", "10810"), "a:b", null));
    assertThat(filename("nbd:[::1]:10810,ipv6").address()).isEqualTo(NbdAddress.inet("::1", "10810"));
    assertThat(filename("nbd:unix:/s:exportname=disk").uri()).isEqualTo("nbd+unix:///disk?socket=/s");
    assertThat(filename("nbd:h:1").uri()).isEqualTo("nbd://h:1");
  }

  @Test
  void uris() throws IOException {
    assertThat(filename("nbd://example.org/disk"))
        .isEqualTo(new NbdTarget(NbdAddress.inet("example.org", "10809"), "disk", null));
    assertThat(filename("nbd+tcp://example.org:1234"))
        .isEqualTo(new NbdTarget(NbdAddress.inet("example.org", "1234"), null, null));
    assertThat(filename("nbd://[::1]:3/ex")).isEqualTo(new NbdTarget(NbdAddress.inet("::1", "3"), "ex", null));
    assertThat(filename("nbd+unix:///disk?socket=/tmp/s.sock"))
        .isEqualTo(new NbdTarget(NbdAddress.unix("/tmp/s.sock"), "disk", null));
    assertThat(filename("nbd+unix://?socket=/tmp/s.sock"))
        .isEqualTo(new NbdTarget(NbdAddress.unix("/tmp/s.sock"), null, null));
    assertThat(filename("nbd+unix:///?socket=/x").address()).isEqualTo(NbdAddress.unix("/x"));
  }

  @Test
  void badNamesGetQemusMessages() {
    assertThatThrownBy(() -> filename("nbd://localhost:99999/foo")).hasMessage("No valid URL specified");
    assertThatThrownBy(() -> filename("nbd+unix:///a")).hasMessage("No valid URL specified");
    assertThatThrownBy(() -> filename("nbd+unix://?socket=/x&a=b")).hasMessage("No valid URL specified");
    assertThatThrownBy(() -> filename("nbd://localhost/x?socket=/s")).hasMessage("No valid URL specified");
    assertThatThrownBy(() -> filename("nbd:foo")).hasMessage("error parsing address 'foo'");
    assertThatThrownBy(() -> filename("nbd:")).hasMessage("NBD server address missing");
    // QEMU takes nothing from a name whose export name is empty
    assertThatThrownBy(() -> filename("nbd:unix:/x:exportname=")).hasMessage("NBD server address missing");
    assertThatThrownBy(() -> filename("foo:unix:/x")).hasMessage("File name string for NBD must start with 'nbd:'");
    assertThatThrownBy(() -> options("filename", "nbd:unix:/x", "export", "e"))
        .hasMessage("Option 'export' cannot be used with a file name");
  }

  @Test
  void structuredAndLegacyOptions() throws IOException {
    assertThat(options("server.type", "unix", "server.path", "/s", "x-dirty-bitmap", "qemu:dirty-bitmap:b0"))
        .isEqualTo(new NbdTarget(NbdAddress.unix("/s"), null, "qemu:dirty-bitmap:b0"));
    assertThat(options("server.type", "inet", "server.host", "h", "server.port", "7", "export", "e"))
        .isEqualTo(new NbdTarget(NbdAddress.inet("h", "7"), "e", null));
    assertThat(options("host", "-1")).isEqualTo(new NbdTarget(NbdAddress.inet("-1", "10809"), null, null));
    assertThat(options("host", "localhost", "port", "5").address()).isEqualTo(NbdAddress.inet("localhost", "5"));
    assertThat(options("path", "42").address()).isEqualTo(NbdAddress.unix("42"));
  }

  @Test
  void badOptionsGetQemusMessages() {
    assertThatThrownBy(() -> options()).hasMessage("NBD server address missing");
    assertThatThrownBy(() -> options("port", "1")).hasMessage("NBD server address missing");
    assertThatThrownBy(() -> options("path", "/x", "host", "h"))
        .hasMessage("path and host may not be used at the same time");
    assertThatThrownBy(() -> options("path", "/x", "port", "1")).hasMessage("port may not be used without host");
    assertThatThrownBy(() -> options("host", "h", "server.type", "unix"))
        .hasMessage("Cannot use 'server' and path/host/port at the same time");
    assertThatThrownBy(() -> options("server.type", "unix")).hasMessage("Parameter 'path' is missing");
    assertThatThrownBy(() -> options("server.path", "/x")).hasMessage("Parameter 'type' is missing");
    assertThatThrownBy(() -> options("server.type", "inet", "server.host", "h"))
        .hasMessage("Parameter 'port' is missing");
    assertThatThrownBy(() -> options("server.type", "bogus"))
        .hasMessage("Parameter 'type' does not accept value 'bogus'");
    assertThatThrownBy(() -> options("server.type", "unix", "server.path", "/x", "server.extra", "1"))
        .hasMessage("Parameter 'extra' is unexpected");
    assertThatThrownBy(() -> options("path", "/x", "tls-creds", "t")).hasMessage("No TLS credentials with id 't'");
  }

  @Test
  void connectFailuresGetQemusMessages() {
    assertThatThrownBy(() -> NbdClient.connect(NbdAddress.inet("-1", "10809"), "", null))
        .hasMessage("address resolution failed for -1:10809: Name or service not known");
    assertThatThrownBy(() -> NbdClient.connect(NbdAddress.unix("/nonexistent/nbd.sock"), "", null))
        .hasMessage("Failed to connect to '/nonexistent/nbd.sock': No such file or directory");
    assertThatThrownBy(() -> NbdClient.connect(NbdAddress.inet("localhost", "1"), "", null))
        .hasMessage("Failed to connect to 'localhost:1': Connection refused");
  }
}
