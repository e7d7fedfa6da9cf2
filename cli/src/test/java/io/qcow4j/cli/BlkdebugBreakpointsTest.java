package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * qemu-io's blkdebug breakpoints (break, remove_break, resume, wait_break), side by side with the
 * real qemu-io: a request suspended at its event, the command loop going on meanwhile, and the
 * requests that touch its cluster or its blocks waiting for it.
 */
class BlkdebugBreakpointsTest {

  private static SideBySide withImage(String format, String size) {
    SideBySide runs = new SideBySide();
    assertThat(runs.run("qemu-img", "create", "-q", "-f", format, "@/t." + format, size).same().ours().exitCode())
        .isZero();
    return runs;
  }

  @Test
  void aRequestIsSuspendedAtItsEventUntilResumed() {
    SideBySide runs = withImage("qcow2", "1M");
    SideBySide.Runs session = runs.run("qemu-io", "-c", "break write_aio A", "-c", "aio_write -P 10 0x18000 0x2000",
        "-c", "wait_break A", "-c", "read -P 0 0 4k", "-c", "resume A", "-c", "aio_flush", "-c", "resume A",
        "-c", "remove_break B", "-c", "break nosuch C", "-c", "break write_aio D", "-c", "remove_break D",
        "-c", "read -P 10 0x18000 0x2000", "blkdebug::@/t.qcow2").same();
    assertThat(session.ours().out()).startsWith("blkdebug: Suspended request 'A'\nread 4096/4096 bytes at offset 0\n");
    // without blkdebug there is no breakpoint to set
    runs.run("qemu-io", "-c", "break write_aio A", "-c", "resume A", "-c", "remove_break A", "@/t.qcow2").same();
  }

  @Test
  void aWriteToTheClusterOfASuspendedAllocationWaitsForIt() {
    SideBySide runs = withImage("qcow2", "1M");
    Cli.Result ours = Cli.run("io", "-c", "break write_aio A", "-c", "aio_write -P 10 0x18000 0x2000", "-c",
        "wait_break A", "-c", "aio_write -P 11 0x12000 0x2000", "-c", "resume A", "-c", "aio_flush",
        runs.ours + "/t.qcow2");
    String out = ours.out();
    assertThat(out.indexOf("wrote 8192/8192 bytes at offset 73728")).isGreaterThan(out.indexOf("Resuming request 'A'"));
    runs.run("qemu-io", "-c", "read -P 11 0x12000 0x2000", "-c", "read -P 10 0x18000 0x2000", "-c",
        "read -P 0 0x14000 0x4000", "@/t.qcow2");
  }

  @Test
  void unalignedWritesUnderBlkdebugAlignAreReadModifyWritesThatSerialise() {
    SideBySide runs = withImage("raw", "1M");
    String image = "open -o driver=raw,file.align=4k blkdebug::@/t.raw";
    // the second write waits for the suspended one's block; both land whole
    SideBySide.Runs session = runs.run("qemu-io", "-c", image, "-c", "break pwritev_rmw_after_head A",
        "-c", "aio_write -P 10 0x1200 0x200", "-c", "wait_break A", "-c", "aio_write -P 11 0x1400 0x200",
        "-c", "resume A", "-c", "aio_flush", "-c", "break pwritev_rmw_after_tail B", "-c", "aio_write -P 12 0x2000 0x200",
        "-c", "wait_break B", "-c", "remove_break B", "-c", "aio_flush").same();
    assertThat(session.ours().out()).contains("blkdebug: Suspended request 'B'\nblkdebug: Resuming request 'B'\n");
    runs.run("qemu-io", "-f", "raw", "-c", "read -P 0 0x1000 0x200", "-c", "read -P 10 0x1200 0x200", "-c",
        "read -P 11 0x1400 0x200", "-c", "read -P 0 0x1600 0xa00", "-c", "read -P 12 0x2000 0x200", "@/t.raw").same();
  }
}
