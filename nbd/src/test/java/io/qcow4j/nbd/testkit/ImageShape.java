package io.qcow4j.nbd.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The qcow2 layouts a test runs over, each made by qemu-img from a raw file of initial content:
 * cluster sizes from 512 B to 2 MiB, extended L2, v2, lazy refcounts, 1- and 64-bit refcounts, a
 * backing file (the image itself starts empty over it) and an internal snapshot (every initial
 * cluster shared).
 */
public enum ImageShape {
  DEFAULT_64K(65536, ""),
  CLUSTER_4K(4096, "cluster_size=4096"),
  CLUSTER_512(512, "cluster_size=512"),
  CLUSTER_2M(2 << 20, "cluster_size=2097152"),
  EXTENDED_L2_16K(16384, "extended_l2=on,cluster_size=16384"),
  COMPAT_0_10(65536, "compat=0.10"),
  LAZY_REFCOUNTS(65536, "lazy_refcounts=on"),
  BACKING_FILE(65536, ""),
  REFCOUNT_BITS_1(65536, "refcount_bits=1"),
  REFCOUNT_BITS_64(65536, "refcount_bits=64"),
  SNAPSHOT(65536, "");

  /** The shapes to run: all, or those named in -Dqcow4j.shapes (comma separated) to replay a failure. */
  public static List<ImageShape> selected() {
    String names = System.getProperty("qcow4j.shapes", "");
    if (names.isBlank()) {
      return List.of(values());
    }
    return Arrays.stream(names.split(",")).map(String::strip).map(ImageShape::valueOf).toList();
  }

  private final int clusterSize;
  private final String options;

  ImageShape(int clusterSize, String options) {
    this.clusterSize = clusterSize;
    this.options = options;
  }

  public int clusterSize() {
    return clusterSize;
  }

  /** Whether the image has a backing file, whose content a discarded cluster may show again. */
  public boolean hasBacking() {
    return this == BACKING_FILE;
  }

  /** The -o options given to qemu-img, empty for its defaults. */
  public String options() {
    return options;
  }

  /**
   * Makes {@code image} of this shape whose guest content is the raw file {@code initial}: converted
   * into the image, or, with a backing file, into {@code image}'s backing file next to it.
   */
  public void create(Path initial, Path image) throws IOException, InterruptedException {
    if (hasBacking()) {
      Path backing = image.resolveSibling(image.getFileName() + ".backing.qcow2");
      convert(initial, backing, "");
      long size = Files.size(initial);
      Commands.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", backing.toString(), "-F", "qcow2",
          image.toString(), Long.toString(size));
      return;
    }
    convert(initial, image, options);
    if (this == SNAPSHOT) {
      Commands.check("qemu-img", "snapshot", "-c", "initial", image.toString());
    }
  }

  private static void convert(Path raw, Path image, String options) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("qemu-img", "convert", "-f", "raw", "-O", "qcow2"));
    if (!options.isEmpty()) {
      command.addAll(List.of("-o", options));
    }
    command.addAll(List.of(raw.toString(), image.toString()));
    Commands.check(command.toArray(String[]::new));
  }
}
