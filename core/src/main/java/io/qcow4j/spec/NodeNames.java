package io.qcow4j.spec;

import io.qcow4j.internal.spec.QDict;
import java.util.Map;

/**
 * The names QEMU gives nodes (bdrv_refresh_filename): a node's exact file name where it can be
 * rebuilt from one ("image.qcow2", "blkdebug:CONF:IMAGE", "null-co://"), else its full open
 * options (the driver, its strong runtime options, its children's), which print as "json:{...}".
 */
final class NodeNames {
  private NodeNames() {}

  /** The node's exact file name, or null when it has options a file name cannot carry. */
  static String exact(BlockNode node) {
    return switch (node) {
      case BlockNode.File file -> file.filename();
      case BlockNode.Null device -> device.size() == 1L << 30 && !device.readZeroes() ? device.driver() + "://" : null;
      case BlockNode.Blkdebug debug -> {
        String image = exact(debug.image());
        boolean plain = debug.rules().isEmpty() && debug.align() == 0 && debug.maxTransfer() == 0
            && debug.optWriteZero() == 0 && debug.maxWriteZero() == 0 && debug.optDiscard() == 0
            && debug.maxDiscard() == 0;
        yield image == null || !plain ? null : "blkdebug:" + (debug.config() == null ? "" : debug.config()) + ":" + image;
      }
      case BlockNode.Filter filter -> exact(filter.file());
      case BlockNode.Quorum quorum -> null;
      case BlockNode.Format format -> format.spec().exactName(format.spec().format());
      case BlockNode.Plugin plugin -> plugin.options().get("filename");
    };
  }

  /** The node's full open options: its driver, its strong runtime options and its children's. */
  static QDict options(BlockNode node) {
    return switch (node) {
      case BlockNode.File file -> new QDict().put("driver", file.driver()).put("filename", file.filename());
      case BlockNode.Null device -> {
        QDict options = new QDict().put("driver", device.driver());
        if (device.size() != 1L << 30) {
          options.put("size", device.size());
        }
        if (device.readZeroes()) {
          options.put("read-zeroes", true);
        }
        yield options;
      }
      case BlockNode.Blkdebug debug -> {
        QDict options = new QDict().put("driver", "blkdebug").put("image", options(debug.image()));
        if (debug.config() != null) {
          options.put("config", debug.config());
        }
        putNonZero(options, "align", debug.align());
        putNonZero(options, "max-transfer", debug.maxTransfer());
        putNonZero(options, "opt-write-zero", debug.optWriteZero());
        putNonZero(options, "max-write-zero", debug.maxWriteZero());
        putNonZero(options, "opt-discard", debug.optDiscard());
        putNonZero(options, "max-discard", debug.maxDiscard());
        putRules(options, debug);
        yield options;
      }
      case BlockNode.Filter filter -> new QDict().put("driver", filter.driver()).put("file", options(filter.file()));
      case BlockNode.Quorum quorum -> {
        java.util.List<Object> children = new java.util.ArrayList<>();
        for (BlockNode child : quorum.children()) {
          children.add(options(child));
        }
        yield new QDict().put("driver", "quorum").put("vote-threshold", quorum.threshold()).put("children", children);
      }
      case BlockNode.Format format -> format.spec().fullOptions(format.spec().format());
      case BlockNode.Plugin plugin -> {
        QDict options = new QDict().put("driver", plugin.driver());
        for (Map.Entry<String, String> entry : plugin.options().entrySet()) {
          options.put(entry.getKey(), entry.getValue());
        }
        yield options;
      }
    };
  }

  /** The rules of blkdebug's options as their flat keys ("set-state.0.event"), the defaults left out. */
  private static void putRules(QDict options, BlockNode.Blkdebug debug) {
    int injectIndex = 0;
    int setIndex = 0;
    for (BlkdebugRule rule : debug.rules()) {
      String prefix;
      if (rule.action() == BlkdebugRule.Action.SET_STATE) {
        prefix = "set-state." + setIndex++ + ".";
        options.put(prefix + "new_state", rule.newState());
      } else {
        prefix = "inject-error." + injectIndex++ + ".";
        if (rule.errno() != 5) {
          options.put(prefix + "errno", (long) rule.errno());
        }
        if (rule.offset() != -1) {
          options.put(prefix + "sector", rule.offset() / 512);
        }
        if (rule.once()) {
          options.put(prefix + "once", true);
        }
        if (rule.immediately()) {
          options.put(prefix + "immediately", true);
        }
      }
      options.put(prefix + "event", rule.event());
      putNonZero(options, prefix + "state", rule.state());
    }
  }

  private static void putNonZero(QDict options, String key, long value) {
    if (value != 0) {
      options.put(key, value);
    }
  }

  /** The name: the exact file name, else "json:" and the full options. */
  static String name(BlockNode node) {
    String exact = exact(node);
    return exact != null ? exact : "json:" + options(node).toJson();
  }
}
