package io.qcow4j.spec;

import io.qcow4j.internal.spec.QDict;
import io.qcow4j.internal.spec.QemuJson;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.options.OptionSyntax;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The parsers image specs use: option strings, QEMU's JSON, QDict order. */
class ParsersTest {
  @Test
  void imageOptionStrings() {
    List<String> warnings = new ArrayList<>();
    assertThat(OptionSyntax.imageOptions("x.img,a=1,b=c,,d,flag,noother,e=,id=i", "file", warnings)).containsExactly(
        new OptionSyntax.Element("file", "x.img"), new OptionSyntax.Element("a", "1"),
        new OptionSyntax.Element("b", "c,d"), new OptionSyntax.Element("flag", "on"),
        new OptionSyntax.Element("other", "off"), new OptionSyntax.Element("e", ""), new OptionSyntax.Element("id", "i"));
    assertThat(warnings).containsExactly("short-form boolean option 'flag' deprecated\nPlease use flag=on instead",
        "short-form boolean option 'noother' deprecated\nPlease use other=off instead");
    assertThat(OptionSyntax.imageOptions("x,y=1", null, new ArrayList<>()))
        .containsExactly(new OptionSyntax.Element("x", "on"), new OptionSyntax.Element("y", "1"));
    assertThat(OptionSyntax.imageOptions("a,,b,c=d", "file", new ArrayList<>()))
        .containsExactly(new OptionSyntax.Element("file", "a,b"), new OptionSyntax.Element("c", "d"));
    // -o lists as before: no implied name, "id" left out
    assertThat(OptionSyntax.elements("a,id=x,c=d,,e"))
        .containsExactly(new OptionSyntax.Element("a", "on"), new OptionSyntax.Element("c", "d,e"));
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
  void qdictOrderAndCompactJson() {
    QDict dict = new QDict().put("encrypt.key-secret", "s").put("driver", "qcow2")
        .put("file", new QDict().put("driver", "file").put("filename", "f"));
    assertThat(dict.keys()).containsExactly("encrypt.key-secret", "driver", "file");
    assertThat(dict.toJson()).isEqualTo("{\"encrypt.key-secret\": \"s\", \"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"f\"}}");
  }
}
