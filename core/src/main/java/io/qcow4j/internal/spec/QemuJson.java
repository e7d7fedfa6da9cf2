package io.qcow4j.internal.spec;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON as QEMU's parser reads it (qobject_from_json): strings in double or single quotes, numbers
 * (int64, else uint64, else double), true, false, null, arrays and objects; a duplicate key is an
 * error. Objects come back as insertion-ordered maps (null for JSON null), arrays as lists,
 * numbers as Long, BigInteger or Double. Failures carry QEMU's messages ("JSON parse error,
 * premature EOI").
 */
public final class QemuJson {
  private static final BigInteger UINT64_LIMIT = BigInteger.ONE.shiftLeft(64);

  /** Text that is not the one JSON value it should be; the message is QEMU's. */
  public static final class JsonException extends Exception {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
      super(message);
    }
  }

  private final String text;
  private int at;

  private QemuJson(String text) {
    this.text = text;
  }

  /** Parses exactly one JSON value from {@code text}. */
  public static Object parse(String text) throws JsonException {
    QemuJson parser = new QemuJson(text);
    parser.skipSpace();
    if (parser.at >= text.length()) {
      throw new JsonException("Expecting a JSON value");
    }
    Object value = parser.value();
    parser.skipSpace();
    if (parser.at < text.length()) {
      throw new JsonException("Expecting at most one JSON value");
    }
    return value;
  }

  private Object value() throws JsonException {
    skipSpace();
    if (at >= text.length()) {
      throw error("premature EOI");
    }
    char c = text.charAt(at);
    return switch (c) {
      case '{' -> object();
      case '[' -> array();
      case '"', '\'' -> string();
      default -> {
        if (c == '-' || isDigit(c)) {
          yield number();
        }
        if (Character.isLetter(c)) {
          yield keyword();
        }
        if (c == '}' || c == ']' || c == ',' || c == ':') {
          throw error("expecting value");
        }
        throw error("stray '" + c + "'");
      }
    };
  }

  private Map<String, Object> object() throws JsonException {
    at++;
    Map<String, Object> members = new LinkedHashMap<>();
    skipSpace();
    if (peek() == '}') {
      at++;
      return members;
    }
    while (true) {
      skipSpace();
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      char c = text.charAt(at);
      if (c != '"' && c != '\'') {
        if (Character.isLetter(c)) {
          throw error("invalid keyword '" + word() + "'");
        }
        throw error("key is not a string in object");
      }
      String key = string();
      skipSpace();
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      if (text.charAt(at) != ':') {
        throw error("missing : in object pair");
      }
      at++;
      Object value = value();
      if (members.containsKey(key)) {
        throw error("duplicate key");
      }
      members.put(key, value);
      skipSpace();
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      c = text.charAt(at++);
      if (c == '}') {
        return members;
      }
      if (c != ',') {
        throw error("expected separator in dict");
      }
    }
  }

  private List<Object> array() throws JsonException {
    at++;
    List<Object> elements = new ArrayList<>();
    skipSpace();
    if (peek() == ']') {
      at++;
      return elements;
    }
    while (true) {
      elements.add(value());
      skipSpace();
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      char c = text.charAt(at++);
      if (c == ']') {
        return elements;
      }
      if (c != ',') {
        throw error("expected separator in list");
      }
    }
  }

  private String string() throws JsonException {
    char quote = text.charAt(at++);
    StringBuilder value = new StringBuilder();
    while (true) {
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      char c = text.charAt(at++);
      if (c == quote) {
        return value.toString();
      }
      if (c != '\\') {
        value.append(c);
        continue;
      }
      if (at >= text.length()) {
        throw error("premature EOI");
      }
      char escaped = text.charAt(at++);
      switch (escaped) {
        case '"', '\'', '\\', '/' -> value.append(escaped);
        case 'b' -> value.append('\b');
        case 'f' -> value.append('\f');
        case 'n' -> value.append('\n');
        case 'r' -> value.append('\r');
        case 't' -> value.append('\t');
        case 'u' -> {
          if (at + 4 > text.length()) {
            throw error("invalid escape sequence in string");
          }
          try {
            value.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
          } catch (NumberFormatException e) {
            throw error("invalid escape sequence in string");
          }
          at += 4;
        }
        default -> throw error("invalid escape sequence in string");
      }
    }
  }

  private Object number() throws JsonException {
    int start = at;
    if (peek() == '-') {
      at++;
    }
    while (at < text.length() && isDigit(text.charAt(at))) {
      at++;
    }
    boolean integral = true;
    if (peek() == '.') {
      integral = false;
      at++;
      while (at < text.length() && isDigit(text.charAt(at))) {
        at++;
      }
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      at++;
      if (peek() == '+' || peek() == '-') {
        at++;
      }
      while (at < text.length() && isDigit(text.charAt(at))) {
        at++;
      }
    }
    String token = text.substring(start, at);
    try {
      if (integral) {
        BigInteger value = new BigInteger(token);
        if (value.bitLength() <= 63) {
          return value.longValue();
        }
        if (value.signum() > 0 && value.compareTo(UINT64_LIMIT) < 0) {
          return value;
        }
      }
      return Double.parseDouble(token);
    } catch (NumberFormatException e) {
      throw error("stray '" + token + "'");
    }
  }

  private Object keyword() throws JsonException {
    String word = word();
    return switch (word) {
      case "true" -> Boolean.TRUE;
      case "false" -> Boolean.FALSE;
      case "null" -> null;
      default -> throw error("invalid keyword '" + word + "'");
    };
  }

  private String word() {
    int start = at;
    while (at < text.length() && Character.isLetterOrDigit(text.charAt(at))) {
      at++;
    }
    return text.substring(start, at);
  }

  private char peek() {
    return at < text.length() ? text.charAt(at) : '\0';
  }

  private void skipSpace() {
    while (at < text.length() && (text.charAt(at) == ' ' || text.charAt(at) == '\t' || text.charAt(at) == '\n'
        || text.charAt(at) == '\r')) {
      at++;
    }
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static JsonException error(String what) {
    return new JsonException("JSON parse error, " + what);
  }
}
