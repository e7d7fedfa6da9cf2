package io.qcow4j.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A small JSON reader for comparing qemu-img's output field by field: objects, arrays, strings, integers, booleans, null. */
final class Json {
  private final String text;
  private int position;

  private Json(String text) {
    this.text = text;
  }

  /** Parses one JSON value (Map, List, String, Long, Boolean or null). */
  static Object parse(String text) {
    Json json = new Json(text);
    Object value = json.value();
    json.skipSpace();
    if (json.position != text.length()) {
      throw new IllegalArgumentException("trailing text at " + json.position + ": " + text);
    }
    return value;
  }

  private Object value() {
    skipSpace();
    char c = text.charAt(position);
    switch (c) {
      case '{' -> {
        Map<String, Object> object = new LinkedHashMap<>();
        position++;
        skipSpace();
        if (text.charAt(position) == '}') {
          position++;
          return object;
        }
        while (true) {
          skipSpace();
          String key = string();
          skipSpace();
          expect(':');
          Object previous = object.put(key, value());
          if (previous != null) {
            throw new IllegalArgumentException("duplicate key " + key);
          }
          skipSpace();
          if (text.charAt(position) == ',') {
            position++;
          } else {
            expect('}');
            return object;
          }
        }
      }
      case '[' -> {
        List<Object> array = new ArrayList<>();
        position++;
        skipSpace();
        if (text.charAt(position) == ']') {
          position++;
          return array;
        }
        while (true) {
          array.add(value());
          skipSpace();
          if (text.charAt(position) == ',') {
            position++;
          } else {
            expect(']');
            return array;
          }
        }
      }
      case '"' -> {
        return string();
      }
      default -> {
        if (text.startsWith("true", position)) {
          position += 4;
          return true;
        }
        if (text.startsWith("false", position)) {
          position += 5;
          return false;
        }
        if (text.startsWith("null", position)) {
          position += 4;
          return null;
        }
        int start = position;
        while (position < text.length() && "-0123456789".indexOf(text.charAt(position)) >= 0) {
          position++;
        }
        return Long.parseLong(text.substring(start, position));
      }
    }
  }

  private String string() {
    expect('"');
    StringBuilder out = new StringBuilder();
    while (text.charAt(position) != '"') {
      char c = text.charAt(position++);
      if (c == '\\') {
        char escaped = text.charAt(position++);
        switch (escaped) {
          case 'n' -> out.append('\n');
          case 't' -> out.append('\t');
          case 'r' -> out.append('\r');
          case 'b' -> out.append('\b');
          case 'f' -> out.append('\f');
          case 'u' -> {
            out.append((char) Integer.parseInt(text.substring(position, position + 4), 16));
            position += 4;
          }
          default -> out.append(escaped);
        }
      } else {
        out.append(c);
      }
    }
    position++;
    return out.toString();
  }

  private void expect(char c) {
    if (text.charAt(position) != c) {
      throw new IllegalArgumentException("expected '" + c + "' at " + position + ": " + text);
    }
    position++;
  }

  private void skipSpace() {
    while (position < text.length() && Character.isWhitespace(text.charAt(position))) {
      position++;
    }
  }
}
