package io.qcow4j.cli;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The -o lists of create, measure and amend against qemu-img's on the same command lines: for
 * every value the option model refuses, the same message (hint lines included) and status; for
 * the lists it takes, the same "Formatting" line; and -o help as qemu-img prints it per command.
 * "@/" is the run's directory; for amend it holds a.qcow2 (v3, 64 MiB) and v2.qcow2 (compat=0.10).
 */
class OptionMessagesTest {
  private static Path images;

  @ParameterizedTest
  @ValueSource(strings = {
      "-f qcow2 -o refcount_bits=-1 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=0 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=018 @/a.qcow2 1M",
      "-f qcow2 -o refcount_bits=99999999999999999999 @/a.qcow2 1M",
      "-f qcow2 -o lazy_refcounts=1 @/a.qcow2 1M",
      "-f qcow2 -o lazy_refcounts=true,extended_l2=y @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=1.5k @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=-1 @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=20E @/a.qcow2 1M",
      "-f qcow2 -o cluster_size=8G @/a.qcow2 1M",
      "-f qcow2 -o compat @/a.qcow2 1M",
      "-f qcow2 -o nosize @/a.qcow2 1M",
      "-f qcow2 -o =foo @/a.qcow2 1M",
      "-f qcow2 -o lazy_refcounts,,x @/a.qcow2 1M",
      "-f qcow2 -o compat=1.1 -o compat=0.10 @/a.qcow2 1M",
      "-f qcow2 -o compat=1.1,compat=0.10,lazy_refcounts @/a.qcow2 1M",
      "-f qcow2 -o id=foo,size=1.5M @/a.qcow2",
      "-f qcow2 -o nocow=on,extent_size_hint=1M,preallocation=off @/a.qcow2 1M",
      "-f qcow2 -o encryption=off @/a.qcow2 1M",
      "-f qcow2 -o backing_fmt=vmdk @/a.qcow2 1M",
      "-f qcow2 -o compat=0.10,extended_l2=on,cluster_size=1k @/a.qcow2 1M",
      "-f qcow2 -o extended_l2=on,cluster_size=4k,lazy_refcounts=on,compat=0.10 @/a.qcow2 1M",
      "-f qcow2 -o data_file_raw=on,backing_file=x,backing_fmt=raw -u @/a.qcow2 1M",
      "-f qcow2 -o data_file=d,data_file_raw=on,backing_file=x,backing_fmt=raw -u @/a.qcow2 1M",
      "-f qcow2 -o preallocation=full,backing_file=x,backing_fmt=raw -u @/a.qcow2 1M",
      "-f raw -o nocow=on,extent_size_hint=0 @/a.raw 1M",
      "-f raw -o backing_file=x @/a.raw 1M",
      "-f raw -o size=1M,size=2M @/a.raw",
      "-f qcow2 -o help=on",
      "-f qcow2 -o nohelp",
  })
  void createAsQemuImg(String arguments) {
    new SideBySide().run("qemu-img", ("create " + arguments).split(" ")).same();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "-O qcow2 -o help --size 1G",
      "-O raw -o ? --size 1G",
      "-O qcow2 -o foo=bar --size 1G",
      "-O qcow2 -o extended_l2=maybe --size 1G",
      "-O qcow2 -o cluster_size=abc --size 1G",
      "-O qcow2 -o cluster_size=4k,extended_l2=on --size 1G",
      "-O qcow2 -o compat=v3 --size 1G",
      "-O qcow2 -o compat=0.10,refcount_bits=8 --size 1G",
      "-O qcow2 -o preallocation=some --size 1G",
      "-O qcow2 -o refcount_bits=-1 --size 1G",
      "-O qcow2 -o encryption=on,nocow=on --size 1G",
      "-O qcow2 -o compat=0.10,lazy_refcounts=on,compression_type=lz4 --size 1G",
      "-O raw -o preallocation=xx --size 1G",
      "-O raw -o cluster_size=4k --size 1G",
      "-O qcow2 -o size=2G --size 1G",
      "-O qcow2 -o size=2G -o cluster_size=2M,",
      "-O qcow2 --size 1x",
  })
  void measureAsQemuImg(String arguments) {
    new SideBySide().run("qemu-img", ("measure " + arguments).split(" ")).same();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "-o compat=2 @/a.qcow2",
      "-o compat=v2 @/a.qcow2",
      "-o refcount_bits=3 @/a.qcow2",
      "-o refcount_bits=abc @/a.qcow2",
      "-o refcount_bits=0 @/a.qcow2",
      "-o cluster_size=4096 @/a.qcow2",
      "-o compression_type=zstd,lazy_refcounts=on @/a.qcow2",
      "-o cluster_size=4096,nocow=on @/a.qcow2",
      "-o backing_file=x @/a.qcow2",
      "-o backing_fmt=raw @/a.qcow2",
      "-o foo=1 @/a.qcow2",
      "-o lazy_refcounts=maybe @/a.qcow2",
      "-o size=1x @/a.qcow2",
      "-o size=32M @/a.qcow2",
      "-o data_file=x @/a.qcow2",
      "-o data_file_raw=on @/a.qcow2",
      "-o data_file_raw=off @/a.qcow2",
      "-o encrypt.state=active,compat=3 @/a.qcow2",
      "-o encryption=on @/a.qcow2",
      "-o compat=0.10,lazy_refcounts=on @/a.qcow2",
      "-o refcount_bits=8,compat=0.10 @/a.qcow2",
      "-o data_file=x,refcount_bits=3 @/a.qcow2",
      "-o lazy_refcounts=on @/v2.qcow2",
      "-o refcount_bits=8 @/v2.qcow2",
      "-o id=3 @/a.qcow2",
      "-o , @/a.qcow2",
      "-o help @/a.qcow2",
      "-o compat=0.10,? @/a.qcow2",
      "-f qcow2 -o help",
      "-f raw -o help",
      "-f vmdk -o help",
      "-f foo -o help",
      "-o help",
      "-o compat=0.10 @/a.qcow2 @/v2.qcow2",
      "@/a.qcow2",
  })
  void amendAsQemuImg(String arguments) {
    prepared().run("qemu-img", ("amend " + arguments).split(" ")).same();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "-O qcow2 -o help",
      "-O raw -o help @/a.qcow2 @/b.raw",
      "-O qcow2 -o ? @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o foo=bar @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o cluster_size=1000 @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o encryption=on -c @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o preallocation=full -c @/a.qcow2 @/b.qcow2",
      "-O raw -c @/a.qcow2 @/b.raw",
      "-O qcow2 -o backing_file=@/a.qcow2 @/a.qcow2 @/b.qcow2",
      "-O raw -o preallocation=metadata @/a.qcow2 @/b.raw",
      "-O qcow2 -o compat=0.10,lazy_refcounts=on @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o size=abc @/a.qcow2 @/b.qcow2",
      "-O qcow2 -o cluster_size=4k -o cluster_size=1000, @/a.qcow2 @/b.qcow2",
  })
  void convertAsQemuImg(String arguments) {
    prepared().run("qemu-img", ("convert " + arguments).split(" ")).same();
  }

  /** Two directories holding the same a.qcow2 and v2.qcow2, made once by qemu-img. */
  private static synchronized SideBySide prepared() {
    if (images == null) {
      images = TestImages.scratch();
      Qemu.createQcow2(images.resolve("a.qcow2"), "64M");
      Qemu.createQcow2(images.resolve("v2.qcow2"), "64M", "-o", "compat=0.10");
    }
    return new SideBySide().copy(images.resolve("a.qcow2"), "a.qcow2").copy(images.resolve("v2.qcow2"), "v2.qcow2");
  }
}
