package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * qemu_strtosz warns about a hex number with a suffix ("Using a multiplier suffix on hex numbers is
 * deprecated: 0x10M") each time QEMU 7.2 parses one: once for a size argument or option of the
 * command line, twice for a -o value most formats parse again when they create (in the order of
 * their QAPI structure), as often in qemu-io's commands as they parse numbers. Side by side with
 * the real tools.
 */
class HexSizeWarningTest {
  @Test
  void createWarnsAsQemuImg() {
    SideBySide both = new SideBySide();
    SideBySide.Runs create = both.run("qemu-img", "create", "-f", "raw", "@/a.raw", "0x10M").same();
    assertThat(create.ours().err()).isEqualTo("qcow4j: warning: Using a multiplier suffix on hex numbers is deprecated:"
        + " 0x10M\n");
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "@/b.qcow2", "0x1k").same();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=0x1k,size=0x1M", "@/c.qcow2").same();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "size=0x1M,cluster_size=0x2k", "@/d.qcow2").same();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=0x1k", "@/e.qcow2", "0x1M").same();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=0x1k,cluster_size=0x2k", "@/f.qcow2",
        "1M").same();
    both.run("qemu-img", "create", "-q", "-f", "raw", "-o", "size=0x1M", "@/g.raw").same();
    both.run("qemu-img", "create", "-q", "-f", "vpc", "-o", "size=0x1M", "@/h.vpc").same();
    both.run("qemu-img", "create", "-q", "-f", "vmdk", "-o", "size=0x1M", "@/i.vmdk").same();
    both.run("qemu-img", "create", "-q", "-f", "qed", "-o", "cluster_size=0x10k", "@/j.qed", "0x1M").same();
    both.run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=0x1M", "@/k.vhdx", "0x4M").same();
    // b, B, e and E are hex digits: no suffix, no warning; a suffix warns even when the rest is refused
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/l.raw", "0x10B").same();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/m.raw", "0x1kz").same();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/n.raw", "0x1.5k").same();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/o.raw", "0xfffffffffffk").same();
  }

  @Test
  void otherCommandsWarnOnce() {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "@/a.qcow2", "1M").same();
    both.run("qemu-img", "convert", "-S", "0x1k", "-O", "raw", "@/a.qcow2", "@/b.raw").same();
    both.run("qemu-img", "convert", "-O", "qcow2", "-o", "cluster_size=0x1k,size=0x2M", "@/a.qcow2", "@/c.qcow2")
        .same();
    both.run("qemu-img", "resize", "-q", "@/a.qcow2", "0x2M").same();
    both.run("qemu-img", "resize", "-q", "@/a.qcow2", "+0x1M").same();
    both.run("qemu-img", "measure", "--size", "0x1M", "-O", "qcow2").same();
    both.run("qemu-img", "measure", "-O", "qcow2", "-o", "cluster_size=0x1k", "--size", "1M").same();
    both.run("qemu-img", "map", "-s", "0x1k", "-l", "0x2k", "@/a.qcow2").same();
    both.run("qemu-img", "amend", "-o", "size=0x5M", "@/a.qcow2").same();
    both.run("qemu-img", "bitmap", "--add", "-g", "0x10k", "@/a.qcow2", "b0").same();
    both.run("qemu-img", "dd", "if=@/a.qcow2", "of=@/d.raw", "bs=0x1k", "count=1").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0x1k 0x1k", "-c", "read -P 1 0x1k 1k", "@/a.qcow2").same();
  }
}
