package io.qcow4j.spec;

import io.qcow4j.disk.Locking;
import java.util.List;
import java.util.Map;

/**
 * One node of QEMU's block graph as an image spec describes it below (or instead of) a format: a
 * host file, a null device, blkdebug over an image, a filter (copy-on-read, compress) over an
 * image, a format node used as a child, or a protocol another module supplies. Parsing only:
 * core's opener turns a node into storage or a disk.
 */
public sealed interface BlockNode {
  /** The driver's name as QEMU spells it ("file", "null-co", "blkdebug", "qcow2"). */
  String driver();

  /** The name of the host file at the bottom of this node, for messages; null when there is none. */
  String bottomFilename();

  /**
   * The file protocol ("file", "host_device" or "host_cdrom") over {@code filename};
   * {@code locking} null for the default; {@code named}: the spec names the driver (then its
   * file type is checked as QEMU's file-posix checks it), rather than a plain file name.
   */
  record File(String driver, String filename, Locking locking, boolean named) implements BlockNode {
    @Override
    public String bottomFilename() {
      return filename;
    }
  }

  /**
   * QEMU's null-co or null-aio: {@code size} bytes that read as zeros when {@code readZeroes} (else
   * as whatever the buffer held) and swallow writes, each request taking {@code latencyNs}.
   */
  record Null(String driver, long size, boolean readZeroes, long latencyNs) implements BlockNode {
    @Override
    public String bottomFilename() {
      return null;
    }
  }

  /**
   * blkdebug over {@code image}: the rules of its {@code config} file (null: none) and options,
   * the alignment and limits it imposes (0: none).
   */
  record Blkdebug(BlockNode image, String config, long align, long maxTransfer, long optWriteZero,
      long maxWriteZero, long optDiscard, long maxDiscard, List<BlkdebugRule> rules) implements BlockNode {
    /** Keeps an unmodifiable copy of the rules. */
    public Blkdebug {
      rules = List.copyOf(rules);
    }

    @Override
    public String driver() {
      return "blkdebug";
    }

    @Override
    public String bottomFilename() {
      return image.bottomFilename();
    }
  }

  /**
   * QEMU's quorum over {@code children}: a read is answered by the content at least
   * {@code threshold} children agree on ("quorum"), or by the first child that reads ("fifo"); a
   * write goes to every child and succeeds where {@code threshold} of them do.
   */
  record Quorum(List<BlockNode> children, long threshold, boolean fifo) implements BlockNode {
    /** Keeps an unmodifiable copy of the children. */
    public Quorum {
      children = List.copyOf(children);
    }

    @Override
    public String driver() {
      return "quorum";
    }

    /** None: QEMU cannot generate a base directory for quorum nodes. */
    @Override
    public String bottomFilename() {
      return null;
    }
  }

  /** A filter driver ("copy-on-read", "compress") over the node {@code file}. */
  record Filter(String driver, BlockNode file) implements BlockNode {
    @Override
    public String bottomFilename() {
      return file.bottomFilename();
    }
  }

  /** A format node used as a child (of blkdebug, a filter, another format): the image {@code spec} describes. */
  record Format(ImageSpec spec) implements BlockNode {
    @Override
    public String driver() {
      return spec.format() == null ? "" : spec.format().id();
    }

    @Override
    public String bottomFilename() {
      return spec.filename();
    }
  }

  /**
   * A protocol node of a driver another module supplies ({@link io.qcow4j.storage.ProtocolDriver}):
   * its options as flat QemuOpts strings, "filename" included when given.
   */
  record Plugin(String driver, Map<String, String> options) implements BlockNode {
    /** Keeps an unmodifiable copy of the options, in order. */
    public Plugin {
      options = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(options));
    }

    @Override
    public String bottomFilename() {
      return options.get("filename");
    }
  }
}
