package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * What blkdebug changes in qemu-img and qemu-io, side by side with the real tools: convert
 * --salvage past injected block status and read failures, the request limits that cut writes of
 * zeroes and discards, and a write whose host range is one (so one write_aio event).
 */
class BlkdebugSideBySideTest {
  private static final long M = 1 << 20;

  private static SideBySide withImage(String format, String size) {
    SideBySide runs = new SideBySide();
    assertThat(runs.run("qemu-img", "create", "-q", "-f", format, "@/t.orig", size).same().ours().exitCode()).isZero();
    runs.run("qemu-io", "-f", format, "-c", "write -P 42 0 " + size, "@/t.orig").same();
    return runs;
  }

  private static String salvageSource(String format) {
    StringBuilder rules = new StringBuilder();
    for (long offset : new long[] {M + 8192, 3 * M + 512}) {
      rules.append("{'event':'none','iotype':'block-status','errno':5,'sector':").append(offset / 512).append("},");
    }
    for (long offset : new long[] {2 * M - 65536, 3 * M + 512, 3 * M + 1024 + 512}) {
      rules.append("{'event':'none','iotype':'read','errno':5,'sector':").append(offset / 512).append("},");
    }
    return "json:{'driver':'blkdebug','image':{'driver':'" + format + "','file':{'driver':'file','filename':"
        + "'@/t.orig'}},'inject-error':[" + rules.substring(0, rules.length() - 1) + "]}";
  }

  @Test
  void salvageWarnsAboutEachFailedSectorAsQemuImgDoesAndCopiesItAsZeros() {
    for (String format : new String[] {"qcow2", "raw"}) {
      SideBySide runs = withImage(format, "4M");
      for (String target : new String[] {"raw", "qcow2"}) {
        SideBySide.Runs convert = runs.run("qemu-img", "convert", "--salvage", "-O", target, salvageSource(format),
            "@/t." + target).same();
        assertThat(convert.ours().err()).contains("warning: error while reading block status at offset "
            + (M + 8192) + ": Input/output error");
        assertThat(convert.ours().err()).contains("warning: error while reading offset " + (3 * M + 1536)
            + ": Input/output error");
        runs.run("qemu-img", "compare", "-f", format, "-F", target, "@/t.orig", "@/t." + target).same();
        runs.run("qemu-io", "-f", target, "-c", "read -P 0 " + (2 * M - 65536) + " 512", "-c",
            "read -P 42 " + (2 * M - 65536 + 512) + " 512", "@/t." + target).same();
      }
      // without --salvage the first failure ends the copy
      assertThat(runs.run("qemu-img", "convert", "-O", "raw", salvageSource(format), "@/t.failed").ours().exitCode())
          .isEqualTo(1);
      // -q says nothing about what it salvaged
      assertThat(runs.run("qemu-img", "convert", "-q", "--salvage", "-O", "raw", salvageSource(format), "@/t.quiet")
          .same().ours().err()).isEmpty();
    }
  }

  @Test
  void requestLimitsCutWritesOfZeroesAndDiscardsAsQemusBlockLayer() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=1M", "@/t.qcow2", "128M").same();
    runs.run("qemu-io", "-c", "write -P 22 0 110M", "@/t.qcow2").same();
    String limits = "driver=blkdebug,image.driver=qcow2,align=512,opt-write-zero=15M,max-write-zero=15M,"
        + "opt-discard=15M,max-discard=15M";
    runs.run("qemu-io", "-c", "open -o " + limits + " blkdebug::@/t.qcow2", "-c", "write -z 32M 32M").same();
    runs.run("qemu-io", "-c", "open -o " + limits + " blkdebug::@/t.qcow2", "-c", "discard 80000001 30M").same();
    runs.run("qemu-io", "-c", "open -o driver=blkdebug,image.driver=qcow2,align=512,max-transfer=64k,"
        + "opt-write-zero=1M blkdebug::@/t.qcow2", "-c", "write -z 8003584 2093056").same();
    SideBySide.Runs map = runs.run("qemu-img", "map", "--output=json", "@/t.qcow2").same();
    // the head and tail of the write of zeroes smaller than 15 MiB were written as data
    assertThat(map.ours().out()).contains("\"start\": 47185920, \"length\": 15728640, \"depth\": 0, \"present\": true,"
        + " \"zero\": true");
  }

  @Test
  void aWriteOverDataAndAPreallocatedZeroClusterRaisesOneWriteEvent() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/t.qcow2", "192k").same();
    runs.run("qemu-io", "-c", "write -P 42 0 192k", "-c", "write -z 64k 64k", "@/t.qcow2").same();
    String stateMachine = "json:{'driver':'qcow2','file':{'driver':'blkdebug','image.filename':'@/t.qcow2',"
        + "'set-state':[{'event':'write_aio','new_state':2}],'inject-error':[{'event':'write_aio','state':2}]}}";
    assertThat(runs.run("qemu-io", "-c", "write -P 43 0 192k", stateMachine).same().ours().out())
        .contains("wrote 196608/196608 bytes at offset 0");
    runs.run("qemu-img", "map", "--output=json", "@/t.qcow2").same();
  }
}
