package io.qcow4j.spec;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * blkdebug's rules as QEMU reads them: from its configuration file ("[inject-error]" and
 * "[set-state]" groups of `key = "value"` lines) and from its inject-error.N.* and set-state.N.*
 * options, with QEMU's checks of events, numbers and the alignment options. Pure: the caller
 * reads the file.
 */
public final class BlkdebugRules {
  /** QEMU 7.2's BlkdebugEvent names, in their order. */
  public static final List<String> EVENTS = List.of("l1_update", "l1_grow_alloc_table", "l1_grow_write_table",
      "l1_grow_activate_table", "l2_load", "l2_update", "l2_update_compressed", "l2_alloc_cow_read",
      "l2_alloc_write", "read_aio", "read_backing_aio", "read_compressed", "write_aio", "write_compressed",
      "vmstate_load", "vmstate_save", "cow_read", "cow_write", "reftable_load", "reftable_grow", "reftable_update",
      "refblock_load", "refblock_update", "refblock_update_part", "refblock_alloc", "refblock_alloc_hookup",
      "refblock_alloc_write", "refblock_alloc_write_blocks", "refblock_alloc_write_table",
      "refblock_alloc_switch_table", "cluster_alloc", "cluster_alloc_bytes", "cluster_free", "flush_to_os",
      "flush_to_disk", "pwritev_rmw_head", "pwritev_rmw_after_head", "pwritev_rmw_tail", "pwritev_rmw_after_tail",
      "pwritev", "pwritev_zero", "pwritev_done", "empty_image_prepare", "l1_shrink_write_table",
      "l1_shrink_free_l2_clusters", "cor_write", "cluster_alloc_space", "none");
  private static final List<String> IO_TYPES = List.of("read", "write", "write-zeroes", "discard", "flush",
      "block-status");
  private static final int EIO = 5;
  private static final long INT_MAX = Integer.MAX_VALUE;

  private BlkdebugRules() {}

  /** The rules of a configuration file's text, in the order QEMU adds them. */
  public static List<BlkdebugRule> parseConfig(String text) throws ImageSpecException {
    List<BlkdebugRule> rules = new ArrayList<>();
    String group = null;
    Map<String, String> values = null;
    int lineNumber = 0;
    List<String> groups = new ArrayList<>();
    List<Map<String, String>> groupValues = new ArrayList<>();
    for (String raw : text.split("\n", -1)) {
      lineNumber++;
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("[") && line.endsWith("]")) {
        group = line.substring(1, line.length() - 1).strip();
        int space = group.indexOf(' ');
        if (space >= 0) {
          group = group.substring(0, space);
        }
        if (!group.equals("inject-error") && !group.equals("set-state")) {
          throw new ImageSpecException("There is no option group '" + group + "'");
        }
        values = new java.util.LinkedHashMap<>();
        groups.add(group);
        groupValues.add(values);
        continue;
      }
      int equals = line.indexOf('=');
      if (equals < 0 || values == null) {
        throw new ImageSpecException("line " + lineNumber + ": parse error");
      }
      String key = line.substring(0, equals).strip();
      String value = line.substring(equals + 1).strip();
      if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
        value = value.substring(1, value.length() - 1);
      }
      values.put(key, value);
    }
    for (String action : List.of("inject-error", "set-state")) {
      for (int index = 0; index < groups.size(); index++) {
        if (groups.get(index).equals(action)) {
          rules.add(rule(action, groupValues.get(index)));
        }
      }
    }
    return rules;
  }

  /** Takes the inject-error.* and set-state.* options (lists "X.0.event" or one "X.event"). */
  static List<BlkdebugRule> fromOptions(BlockOptions options) throws ImageSpecException {
    List<BlkdebugRule> rules = new ArrayList<>();
    for (String action : List.of("inject-error", "set-state")) {
      BlockOptions group = options.extract(action);
      if (group.isEmpty()) {
        continue;
      }
      TreeMap<Integer, Map<String, String>> elements = new TreeMap<>();
      Map<String, String> single = new java.util.LinkedHashMap<>();
      for (Map.Entry<String, Object> entry : group.asMap().entrySet()) {
        String key = entry.getKey();
        String value = BlockOptions.scalar(entry.getValue());
        int dot = key.indexOf('.');
        if (dot > 0 && key.substring(0, dot).chars().allMatch(Character::isDigit)) {
          elements.computeIfAbsent(Integer.parseInt(key.substring(0, dot)), i -> new java.util.LinkedHashMap<>())
              .put(key.substring(dot + 1), value);
        } else {
          single.put(key, value);
        }
      }
      if (!single.isEmpty()) {
        rules.add(rule(action, single));
      }
      for (Map<String, String> element : elements.values()) {
        rules.add(rule(action, element));
      }
    }
    return rules;
  }

  private static BlkdebugRule rule(String action, Map<String, String> values) throws ImageSpecException {
    String event = values.get("event");
    if (event == null) {
      throw new ImageSpecException("Missing event name for rule");
    }
    if (!EVENTS.contains(event)) {
      throw new ImageSpecException("Invalid parameter '" + event + "'");
    }
    long state = number(values, "state", 0);
    if (action.equals("set-state")) {
      known(values, List.of("event", "state", "new_state"), action);
      return new BlkdebugRule(BlkdebugRule.Action.SET_STATE, event, state, 0, -1, false, false, 0,
          number(values, "new_state", 0));
    }
    known(values, List.of("event", "state", "errno", "sector", "once", "immediately", "iotype"), action);
    long errno = number(values, "errno", EIO);
    long sector = number(values, "sector", -1);
    int ioTypes = BlkdebugRule.DEFAULT_IO_TYPES;
    String ioType = values.get("iotype");
    if (ioType != null) {
      int index = IO_TYPES.indexOf(ioType);
      if (index < 0) {
        throw new ImageSpecException("Invalid parameter '" + ioType + "'");
      }
      ioTypes = 1 << index;
    }
    return new BlkdebugRule(BlkdebugRule.Action.INJECT_ERROR, event, state, (int) errno,
        sector == -1 ? -1 : sector * 512, bool(values, "once"), bool(values, "immediately"), ioTypes, 0);
  }

  private static void known(Map<String, String> values, List<String> keys, String group) throws ImageSpecException {
    for (String key : values.keySet()) {
      if (!keys.contains(key)) {
        throw new ImageSpecException("Invalid parameter '" + key + "'");
      }
    }
  }

  private static long number(Map<String, String> values, String key, long absent) throws ImageSpecException {
    String text = values.get(key);
    if (text == null) {
      return absent;
    }
    try {
      return Long.decode(text.strip());
    } catch (NumberFormatException e) {
      throw new ImageSpecException("Parameter '" + key + "' expects a number");
    }
  }

  private static boolean bool(Map<String, String> values, String key) throws ImageSpecException {
    String text = values.get(key);
    if (text == null) {
      return false;
    }
    return switch (text) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw new ImageSpecException("Parameter '" + key + "' expects 'on' or 'off'");
    };
  }

  /** blkdebug_open's checks of the alignment options (0: not set), with the child's alignment 1. */
  static void checkLimits(long align, long maxTransfer, long optWriteZero, long maxWriteZero, long optDiscard,
      long maxDiscard) throws ImageSpecException {
    if (align != 0 && (Long.compareUnsigned(align, INT_MAX) >= 0 || Long.bitCount(align) != 1)) {
      throw cannotMeet("align", align);
    }
    long unit = Math.max(align, 1);
    check("max-transfer", maxTransfer, unit);
    check("opt-write-zero", optWriteZero, unit);
    check("max-write-zero", maxWriteZero, Math.max(optWriteZero, unit));
    check("opt-discard", optDiscard, unit);
    check("max-discard", maxDiscard, Math.max(optDiscard, unit));
  }

  private static void check(String name, long value, long unit) throws ImageSpecException {
    if (value != 0 && (Long.compareUnsigned(value, INT_MAX) >= 0 || value % unit != 0)) {
      throw cannotMeet(name, value);
    }
  }

  private static ImageSpecException cannotMeet(String name, long value) {
    return new ImageSpecException("Cannot meet constraints with " + name + " " + Long.toUnsignedString(value));
  }
}
