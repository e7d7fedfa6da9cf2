package io.qcow4j.spec;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * QEMU's keyval syntax (util/keyval.c), as --object arguments use it: "key=value" pairs split at
 * single commas (",," a literal comma), dotted keys building nested maps, a bare first word the
 * value of an implied key, and a bare "help" or "?" a request for help. Keys are QAPI names
 * (a letter, then letters, digits, '-' and '_'); a later value replaces an earlier one.
 */
final class Keyval {
  /** The parsed pairs (values are String or nested maps) and whether help was asked for. */
  record Parsed(Map<String, Object> values, boolean help) {}

  private Keyval() {}

  /** Parses {@code text}; a bare first word is the value of {@code impliedKey}. */
  static Parsed parse(String text, String impliedKey) throws ObjectDefinitionException {
    Map<String, Object> root = new LinkedHashMap<>();
    boolean help = false;
    int at = 0;
    String implied = impliedKey;
    while (at < text.length()) {
      int length = 0;
      while (at + length < text.length() && text.charAt(at + length) != '=' && text.charAt(at + length) != ',') {
        length++;
      }
      boolean bare = length > 0 && (at + length == text.length() || text.charAt(at + length) != '=');
      if (bare) {
        String word = text.substring(at, at + length);
        if (word.equals("help") || word.equals("?")) {
          help = true;
          at += length;
          if (at < text.length()) {
            at++;
          }
          implied = null;
          continue;
        }
        if (implied != null) {
          put(root, implied, word, implied);
          at += length;
          if (at < text.length()) {
            at++;
          }
          implied = null;
          continue;
        }
      }
      String key = text.substring(at, at + length);
      checkKey(key);
      at += length;
      if (at >= text.length() || text.charAt(at) != '=') {
        throw new ObjectDefinitionException("Expected '=' after parameter '" + key + "'");
      }
      at++;
      StringBuilder value = new StringBuilder();
      while (at < text.length()) {
        char c = text.charAt(at);
        if (c == ',') {
          if (at + 1 < text.length() && text.charAt(at + 1) == ',') {
            value.append(',');
            at += 2;
            continue;
          }
          at++;
          break;
        }
        value.append(c);
        at++;
      }
      put(root, key, value.toString(), key);
      implied = null;
    }
    return new Parsed(root, help);
  }

  /** Each dot-separated fragment must be a QAPI name (or, after the first, a list index). */
  private static void checkKey(String key) throws ObjectDefinitionException {
    String[] fragments = key.split("\\.", -1);
    for (int i = 0; i < fragments.length; i++) {
      String fragment = fragments[i];
      boolean index = i > 0 && !fragment.isEmpty() && fragment.chars().allMatch(Character::isDigit);
      if (!index && !isQapiName(fragment)) {
        throw new ObjectDefinitionException("Invalid parameter '" + key + "'");
      }
      if (fragment.length() >= 128) {
        throw new ObjectDefinitionException("Parameter" + (fragments.length > 1 ? " fragment" : "") + " '"
            + fragment + "' is too long");
      }
    }
  }

  private static boolean isQapiName(String name) {
    if (name.isEmpty() || !Character.isLetter(name.charAt(0)) || name.charAt(0) > 0x7f) {
      return false;
    }
    for (int i = 1; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-' && c != '_') {
        return false;
      }
    }
    return true;
  }

  @SuppressWarnings("unchecked")
  private static void put(Map<String, Object> root, String key, String value, String whole)
      throws ObjectDefinitionException {
    String[] fragments = key.split("\\.");
    Map<String, Object> current = root;
    StringBuilder path = new StringBuilder();
    for (int i = 0; i < fragments.length - 1; i++) {
      path.append(i == 0 ? "" : ".").append(fragments[i]);
      Object existing = current.get(fragments[i]);
      if (existing == null) {
        Map<String, Object> child = new LinkedHashMap<>();
        current.put(fragments[i], child);
        current = child;
      } else if (existing instanceof Map<?, ?> child) {
        current = (Map<String, Object>) child;
      } else {
        throw new ObjectDefinitionException("Parameters '" + path + ".*' used inconsistently");
      }
    }
    String last = fragments[fragments.length - 1];
    if (current.get(last) instanceof Map<?, ?>) {
      throw new ObjectDefinitionException("Parameters '" + whole + ".*' used inconsistently");
    }
    current.put(last, value);
  }
}
