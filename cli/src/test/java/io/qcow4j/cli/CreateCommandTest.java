package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow4j create against qemu-img create on the same command lines: the "Formatting" line, the
 * messages and exit status, and for every image made, qemu-img info and check of ours equal to theirs.
 */
class CreateCommandTest {

  /** Command lines after "create"; "@/" is the run's directory, where base.qcow2 (1 MiB) and base.raw (3 MiB) exist. */
  @ParameterizedTest
  @ValueSource(strings = {
      "-f qcow2 @/a.qcow2 1M",
      "@/a.raw 1M",
      "-f raw -o preallocation=full @/a.raw 1M",
      "-f raw -o preallocation=falloc @/a.raw 100k",
      "-f qcow2 -o cluster_size=4k,compat=0.10 @/a.qcow2 3M",
      "-f qcow2 -o cluster_size=4k,compat=0.10,lazy_refcounts=off,extended_l2=off,compression_type=zlib,preallocation=metadata @/a.qcow2 1M",
      "-f qcow2 -o compat=v2 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=1 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=0x40,lazy_refcounts @/a.qcow2 1M",
      "-f qcow2 -o lazy_refcounts=on,compression_type=zstd,extended_l2=on @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=2M,extended_l2=yes @/a.qcow2 5M",
      "-f qcow2 -o preallocation=falloc @/a.qcow2 1M",
      "-f qcow2 -o preallocation=full,cluster_size=512 @/a.qcow2 64k",
      "-f qcow2 -o data_file=@/a.data,data_file_raw=on @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=4k -o nolazy_refcounts -o compat=1.1 @/a.qcow2 1M",
      "-f qcow2 @/a.qcow2 1000",
      "-f qcow2 @/a.qcow2 0",
      "-f qcow2 -o size=2M @/a.qcow2",
      "-f qcow2 -b @/base.qcow2 -F qcow2 @/a.qcow2",
      "-f qcow2 -b base.qcow2 -F qcow2 @/a.qcow2 3M",
      "-f qcow2 -b base.raw -F raw @/a.qcow2",
      "-f qcow2 -o backing_file=base.qcow2,backing_fmt=qcow2 @/a.qcow2",
      "-f qcow2 -b base.qcow2 -F qcow2 -o extended_l2=on,preallocation=metadata @/a.qcow2",
      "-f qcow2 -u -b nonexist -F qcow2 @/a.qcow2 5M",
      "-f qcow2 -u -b nonexist -F raw -o backing_file=a,,b @/a.qcow2 1M",
      "-q -f qcow2 @/a.qcow2 1M",
  })
  void createsWhatQemuImgCreates(String arguments) {
    SideBySide both = prepared();
    both.run("qemu-img", ("create " + arguments).split(" ")).same();
    Path theirs = both.theirs.resolve(arguments.contains(".qcow2 ") || arguments.endsWith(".qcow2") ? "a.qcow2" : "a.raw");
    Path ours = both.ours.resolve(theirs.getFileName().toString());
    assertThat(info(both.ours, ours)).isEqualTo(info(both.theirs, theirs));
    if (theirs.toString().endsWith(".qcow2") && !arguments.contains("nonexist")) {
      Cli.Result check = Qemu.run("qemu-img", "check", ours.toString());
      assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    }
  }

  /** Command lines after "create" that qemu-img refuses: the same message and status. */
  @ParameterizedTest
  @ValueSource(strings = {
      "-f qcow2 -b @/base.qcow2 @/a.qcow2",
      "-f qcow2 -o backing_file=@/base.qcow2 @/a.qcow2",
      "-f qcow2 -o zzz=1 @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=1000 @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=4M @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=abc @/a.qcow2 1M",
      "-f qcow2 -o compat=1.2 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=3 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=abc @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,refcount_bits=8 @/a.qcow2 1M",
      "-f qcow2 -o extended_l2=on,cluster_size=4k @/a.qcow2 1M",
      "-f qcow2 -o data_file_raw=on @/a.qcow2 1M",
      "-f qcow2 -o preallocation=foo @/a.qcow2 1M",
      "-f qcow2 -o compression_type=lz4 @/a.qcow2 1M",
      "-f qcow2 -o lazy_refcounts=maybe @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,lazy_refcounts=on @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,extended_l2=on @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,compression_type=zstd @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,data_file=foo @/a.qcow2 1M",
      "-f qcow2 -o backing_fmt=raw @/a.qcow2 1M",
      "-f qcow2 -b @/base.qcow2 -F qcow2 -o preallocation=metadata @/a.qcow2",
      "-f qcow2 -o size=2M @/a.qcow2 1M",
      "-f qcow2 @/a.qcow2",
      "-f qcow2 -u -b nonexist -F qcow2 @/a.qcow2",
      "-f qcow2 -b nonexist -F qcow2 @/a.qcow2 1M",
      "-f qcow2 -b base.qcow2 -F foo @/a.qcow2 1M",
      "-f qcow2 -u -b base.qcow2 -F foo @/a.qcow2 1M",
      "-f qcow2 -b @/a.qcow2 -F qcow2 @/a.qcow2 1M",
      "-f raw -b @/base.qcow2 -F qcow2 @/a.raw 1M",
      "-f raw -o preallocation=metadata @/a.raw 1M",
      "-f raw -o cluster_size=4k @/a.raw 1M",
      "-f qcow2 @/a.qcow2 1M 2M",
      "-f qcow2 @/a.qcow2 1Q",
      "-f qcow2 @/a.qcow2 9E",
      "-f foo @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=64k,,x @/a.qcow2 1M",
      "-f qcow2 -o ,cluster_size=4k @/a.qcow2 1M",
      "-f qcow2",
  })
  void refusesWhatQemuImgRefuses(String arguments) {
    SideBySide both = prepared();
    SideBySide.Runs runs = both.run("qemu-img", ("create " + arguments).split(" ")).same();
    assertThat(runs.ours().exitCode()).isEqualTo(1);
  }

  @Test
  void emptyOptionListIsRefused() {
    new SideBySide().run("qemu-img", "create", "-f", "qcow2", "-o", "", "@/a.qcow2", "1M").same();
  }

  @ParameterizedTest
  @ValueSource(strings = {"-f qcow2 -o help", "-f qcow2 -o ? @/x.qcow2 1M", "-f raw -o help", "-f raw -o help @/x.raw",
      "-f qcow2 -o compat=0.10,help", "-f qcow2 -o cluster_size=4k -o ?"})
  void helpIsQemuImgs(String arguments) {
    new SideBySide().run("qemu-img", ("create " + arguments).split(" ")).same();
  }

  @Test
  void unimplementedQemuOptionsAreRefusedByName() {
    Cli.Result result = Cli.run("create", "-f", "qcow2", "-o", "encrypt.format=luks", TestImages.scratch().resolve("x").toString(), "1M");
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.err()).contains("'encrypt.format'").contains("not supported by qcow4j");
  }

  private static Path bases;

  /** Two directories holding the same base.qcow2 (1 MiB) and base.raw (3 MiB), made once by qemu-img. */
  private static synchronized SideBySide prepared() {
    if (bases == null) {
      bases = TestImages.scratch();
      Qemu.createQcow2(bases.resolve("base.qcow2"), "1M");
      Qemu.check("qemu-img", "create", "-q", "-f", "raw", bases.resolve("base.raw").toString(), "3M");
    }
    return new SideBySide().copy(bases.resolve("base.qcow2"), "base.qcow2").copy(bases.resolve("base.raw"), "base.raw");
  }

  /** qemu-img info as JSON, without what depends on the host file (its path and allocated size). */
  private static String info(Path dir, Path image) {
    assertThat(Files.exists(image)).as(image + " exists").isTrue();
    String json = Qemu.check("qemu-img", "info", "--output=json", image.toString());
    return json.replace(dir + "/", "@/").replaceAll("\"actual-size\": \\d+", "");
  }

  /** A driver QEMU has that creates no images is refused in qemu-img's words (iotests 082, 113). */
  @org.junit.jupiter.api.Test
  void driversWithoutImageCreation() {
    for (String format : new String[] {"bochs", "cloop", "dmg", "vvfat", "quorum", "blkdebug"}) {
      String file = TestImages.scratch().resolve("no-create." + format).toString();
      Cli.Result ours = Cli.run("create", "-f", format, file, "1M");
      Cli.Result theirs = Qemu.run("qemu-img", "create", "-f", format, file, "1M");
      org.assertj.core.api.Assertions.assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
      org.assertj.core.api.Assertions.assertThat(ours.err()).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
    }
  }

  /** A raw image maps as QEMU's: its first block written at create (file-posix's allocate_first_block; iotest 253). */
  @org.junit.jupiter.api.Test
  void rawImageMapsAsQemuImgs() {
    for (String size : new String[] {"0", "512", "3k", "1M", "1048575"}) {
      String ours = TestImages.scratch().resolve("first-block-ours-" + size + ".raw").toString();
      String theirs = TestImages.scratch().resolve("first-block-theirs-" + size + ".raw").toString();
      org.assertj.core.api.Assertions.assertThat(Cli.run("create", "-q", "-f", "raw", ours, size).exitCode()).isZero();
      Qemu.check("qemu-img", "create", "-q", "-f", "raw", theirs, size);
      org.assertj.core.api.Assertions.assertThat(Qemu.check("qemu-img", "map", "--output=json", "-f", "raw", ours))
          .as(size).isEqualTo(Qemu.check("qemu-img", "map", "--output=json", "-f", "raw", theirs));
    }
  }
}
