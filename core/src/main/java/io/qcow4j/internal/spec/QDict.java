package io.qcow4j.internal.spec;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A JSON object that iterates its keys in the order QEMU's QDict does (hash bucket order, newest
 * first within a bucket), so that qemu-img's JSON and its "Format specific information" come out
 * key for key in the same order. Values are String, Long, Integer, Boolean, QDict or List of these.
 */
public final class QDict {
  private static final int BUCKETS = 512;

  private record Entry(String key, Object value, int bucket, int sequence) {}

  private final List<Entry> entries = new ArrayList<>();

  /** An empty object. */
  public QDict() {}

  /** Adds a key; null values are skipped, as QAPI leaves out absent optional members. */
  public QDict put(String key, Object value) {
    if (value != null) {
      entries.removeIf(entry -> entry.key.equals(key));
      entries.add(new Entry(key, value, bucket(key), entries.size()));
    }
    return this;
  }

  /** QDict's tdb_hash, modulo its bucket count. */
  public static int bucket(String key) {
    byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
    int value = 0x238F13AF * bytes.length;
    for (int i = 0; i < bytes.length; i++) {
      value += (bytes[i] & 0xff) << (i * 5 % 24);
    }
    return Integer.remainderUnsigned(1103515243 * value + 12345, BUCKETS);
  }

  private List<Entry> ordered() {
    List<Entry> ordered = new ArrayList<>(entries);
    // by bucket, the newest first within one; one lambda of ours, which the AOT cache keeps (the
    // combinators of Comparator spun three classes of the JDK's at every start that printed a QDict)
    ordered.sort((a, b) -> a.bucket() != b.bucket() ? Integer.compare(a.bucket(), b.bucket())
        : Integer.compare(b.sequence(), a.sequence()));
    return ordered;
  }

  /** The keys in the order QEMU iterates them (qdict_first, qdict_next). */
  public List<String> keys() {
    return ordered().stream().map(Entry::key).toList();
  }

  /** qobject_to_json: one line, ", " between members and ": " after keys. */
  public String toJson() {
    StringBuilder out = new StringBuilder();
    writeCompact(out, this);
    return out.toString();
  }

  // The dispatches on the value's type are instanceof chains rather than pattern switches: a
  // pattern switch spins a class at its first use (SwitchBootstraps), which the AOT cache does not
  // keep, and every info printed that way paid for it at start-up.
  private static void writeCompact(StringBuilder out, Object value) {
    if (value instanceof QDict dict) {
      out.append('{');
      boolean first = true;
      for (Entry entry : dict.ordered()) {
        out.append(first ? "" : ", ");
        quote(out, entry.key);
        out.append(": ");
        writeCompact(out, entry.value);
        first = false;
      }
      out.append('}');
    } else if (value instanceof List<?> list) {
      out.append('[');
      boolean first = true;
      for (Object element : list) {
        out.append(first ? "" : ", ");
        writeCompact(out, element);
        first = false;
      }
      out.append(']');
    } else {
      writeJson(out, value, 0);
    }
  }

  /** qobject_to_json_pretty: four-space indents, no trailing newline. */
  public String toPrettyJson() {
    StringBuilder out = new StringBuilder();
    writeJson(out, this, 0);
    return out.toString();
  }

  /** A list printed as qobject_to_json_pretty prints a QList. */
  public static String toPrettyJson(List<?> list) {
    StringBuilder out = new StringBuilder();
    writeJson(out, list, 0);
    return out.toString();
  }

  private static void writeJson(StringBuilder out, Object value, int depth) {
    if (value instanceof QDict dict) {
      out.append('{');
      boolean first = true;
      for (Entry entry : dict.ordered()) {
        out.append(first ? "" : ",");
        newline(out, depth + 1);
        quote(out, entry.key);
        out.append(": ");
        writeJson(out, entry.value, depth + 1);
        first = false;
      }
      newline(out, depth);
      out.append('}');
    } else if (value instanceof List<?> list) {
      out.append('[');
      boolean first = true;
      for (Object element : list) {
        out.append(first ? "" : ",");
        newline(out, depth + 1);
        writeJson(out, element, depth + 1);
        first = false;
      }
      newline(out, depth);
      out.append(']');
    } else if (value instanceof String text) {
      quote(out, text);
    } else if (value instanceof Boolean flag) {
      out.append(flag ? "true" : "false");
    } else if (value instanceof Number number) {
      out.append(number.longValue());
    } else {
      throw new IllegalArgumentException("not a JSON value: " + value.getClass());
    }
  }

  private static void newline(StringBuilder out, int depth) {
    out.append('\n').repeat(' ', 4 * depth);
  }

  /** QEMU's quoted_str: escapes quotes, backslashes, control and non-ASCII characters as \\uXXXX. */
  private static void quote(StringBuilder out, String text) {
    out.append('"');
    text.codePoints().forEach(codePoint -> {
      switch (codePoint) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (codePoint > 0xFFFF) {
            int offset = codePoint - 0x10000;
            out.append(String.format("\\u%04X\\u%04X", 0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF)));
          } else if (codePoint < 0x20 || codePoint >= 0x7F) {
            out.append(String.format("\\u%04X", codePoint));
          } else {
            out.appendCodePoint(codePoint);
          }
        }
      }
    });
    out.append('"');
  }

  /** qemu's dump_qobject of a dict, as "Format specific information" prints it: dashes become spaces. */
  public void dumpHuman(StringBuilder out, int indentation) {
    for (Entry entry : ordered()) {
      boolean composite = entry.value instanceof QDict || entry.value instanceof List;
      out.repeat(' ', indentation * 4).append(entry.key.replace('-', ' ')).append(':').append(composite ? '\n' : ' ');
      dumpValue(out, entry.value, indentation + 1);
    }
  }

  private static void dumpValue(StringBuilder out, Object value, int indentation) {
    if (value instanceof QDict dict) {
      dict.dumpHuman(out, indentation);
    } else if (value instanceof List<?> list) {
      int index = 0;
      for (Object element : list) {
        boolean composite = element instanceof QDict || element instanceof List;
        out.repeat(' ', indentation * 4).append('[').append(index++).append("]:").append(composite ? '\n' : ' ');
        dumpValue(out, element, indentation + 1);
      }
    } else if (value instanceof Boolean flag) {
      out.append(flag ? "true" : "false").append('\n');
    } else if (value instanceof Number number) {
      out.append(number.longValue()).append('\n');
    } else {
      out.append(value).append('\n');
    }
  }
}
