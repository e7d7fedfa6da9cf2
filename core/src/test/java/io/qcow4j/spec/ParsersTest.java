package io.qcow4j.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The shared parsers: QemuOpts option strings, QEMU's JSON, its numbers. */
class ParsersTest {
  @Test
  void optionStrings() {
    OptionString parsed = OptionString.parse("x.img,a=1,b=c,,d,flag,noother,e=", "file", true);
    assertThat(parsed.options()).containsExactly(new OptionString.Option("file", "x.img"),
        new OptionString.Option("a", "1"), new OptionString.Option("b", "c,d"), new OptionString.Option("flag", "on"),
        new OptionString.Option("other", "off"), new OptionString.Option("e", ""));
    assertThat(parsed.warnings()).hasSize(2);
    assertThat(OptionString.parse("x,y=1", null, false).options())
        .containsExactly(new OptionString.Option("x", "on"), new OptionString.Option("y", "1"));
    assertThat(OptionString.parse("a,,b,c=d", "file", false).options())
        .containsExactly(new OptionString.Option("file", "a,b"), new OptionString.Option("c", "d"));
  }

  @Test
  void json() throws Exception {
    assertThat(QemuJson.parse(" {'a': \"b\\u0041\", \"n\": [1, -2, 1.5, 18446744073709551615, true, null]} "))
        .isEqualTo(Map.of("a", "bA", "n", java.util.Arrays.asList(1L, -2L, 1.5, new BigInteger("18446744073709551615"),
            true, null)));
    assertThatThrownBy(() -> QemuJson.parse("{\"a\" 1}")).hasMessage("JSON parse error, missing : in object pair");
    assertThatThrownBy(() -> QemuJson.parse("{\"a\":}")).hasMessage("JSON parse error, expecting value");
    assertThatThrownBy(() -> QemuJson.parse("{a:1}")).hasMessage("JSON parse error, invalid keyword 'a'");
    assertThatThrownBy(() -> QemuJson.parse("{\"a\":1}x")).hasMessage("Expecting at most one JSON value");
    assertThatThrownBy(() -> QemuJson.parse("")).hasMessage("Expecting a JSON value");
    assertThatThrownBy(() -> QemuJson.parse("{\"a\":[1,2}")).hasMessage("JSON parse error, expected separator in list");
    assertThatThrownBy(() -> QemuJson.parse("{\"a\":1 \"b\":2}")).hasMessage("JSON parse error, expected separator in dict");
    assertThatThrownBy(() -> QemuJson.parse("{\"a\":\"\\x\"}")).hasMessage("JSON parse error, invalid escape sequence in string");
    assertThat(QemuJson.parse("[]")).isEqualTo(List.of());
  }

  @Test
  void numbers() throws Exception {
    assertThat(QemuValues.parseSize("1M")).isEqualTo(1L << 20);
    assertThat(QemuValues.parseSize("1.5k")).isEqualTo(1536);
    assertThat(QemuValues.parseUnsigned("0x10")).isEqualTo(16);
    assertThat(QemuValues.parseUnsigned("010")).isEqualTo(8);
    assertThat(QemuValues.parseUnsigned("-1")).isEqualTo(-1L);
    assertThat(QemuValues.parseUnsigned("abc")).isNull();
    assertThat(QemuValues.parseBool("yes")).isTrue();
    assertThat(QemuValues.parseBool("n")).isFalse();
    assertThat(QemuValues.parseBool("1")).isNull();
  }

  @Test
  void qdictOrderAndCompactJson() {
    QDict dict = new QDict().put("encrypt.key-secret", "s").put("driver", "qcow2")
        .put("file", new QDict().put("driver", "file").put("filename", "f"));
    assertThat(dict.keys()).containsExactly("encrypt.key-secret", "driver", "file");
    assertThat(dict.toJson()).isEqualTo("{\"encrypt.key-secret\": \"s\", \"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"f\"}}");
  }
}
