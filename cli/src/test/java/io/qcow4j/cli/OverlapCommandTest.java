package io.qcow4j.cli;

import static io.qcow4j.testing.ImageBytes.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qcow4j io on an image whose L2 entry points into metadata or far past the end (issue 8; the
 * library side, with every structure and pointer, is core's io.qcow4j.hostile.OverlapTest): the
 * write is refused like qemu-io refuses it, exit status 1, "write failed: Input/output error" after
 * QEMU's corruption event on stderr (naming the structure where QEMU checks it), no stack trace,
 * and the image is marked corrupt.
 */
class OverlapCommandTest {
  private static final int CLUSTER = 65536;
  /** Guest cluster 3: unallocated in the image made below, its L2 entry is the one patched. */
  private static final long GUEST = 3L * CLUSTER;

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "l1-table, overlaps with active L1 table",
      "far-past-end, past the end of the image",  // QEMU's own check finds nothing here; its write fails later
  })
  void aWriteThroughAnEntryIntoMetadataFailsInOneLineAndMarksTheImageCorrupt(String target, String words)
      throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      Qemu.createQcow2(image, "1G", "-o", "cluster_size=" + CLUSTER);
      Qemu.io(image, "qcow2", "write -P 0x22 0 128k");
      try (ImageBytes bytes = ImageBytes.open(image)) {
        long host = target.equals("l1-table") ? bytes.u64(L1_TABLE_OFFSET) : 1L << 55;
        bytes.putU64(bytes.l2EntryOffset(GUEST), OFLAG_COPIED | host);
      }
    }

    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a " + (GUEST + 512) + " 512", "@/image");

    assertThat(runs.theirs().exitCode()).as("qemu-io refuses the write too\n%s", runs).isEqualTo(1);
    assertThat(runs.ours().exitCode()).as("exit status\n%s", runs).isEqualTo(1);
    String output = runs.ours().out() + runs.ours().err();
    assertThat(runs.ours().out()).as("stdout\n%s", runs).isEqualTo("write failed: Input/output error\n");
    assertThat(runs.ours().err()).as("stderr\n%s", runs).startsWith("qcow2: Marking image as corrupt: ")
        .contains(words).endsWith("; further corruption events will be suppressed\n");
    if (target.equals("l1-table")) {
      assertThat(runs.ours().err()).as("QEMU's event\n%s", runs).isEqualTo(runs.theirs().err());
    }
    assertThat(output).as("no stack trace").doesNotContain("\tat ").doesNotContain("Exception");
    try (ImageBytes bytes = ImageBytes.open(both.ours.resolve("image"))) {
      assertThat(bytes.u64(INCOMPATIBLE_FEATURES) & 2).as("the corrupt bit").isEqualTo(2);
    }
  }
}
