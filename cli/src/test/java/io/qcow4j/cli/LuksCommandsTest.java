package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Raw LUKS images through the commands, side by side with qemu-img and qemu-io. */
class LuksCommandsTest {
  private static final String OBJECT = "secret,id=sec0,data=abc";
  private static final String WRONG = "secret,id=sec0,data=abd";

  @Test
  void infoOfAQemuImageIsQemuImgs() throws IOException {
    SideBySide both = new SideBySide();
    Path image = both.theirs.resolve("a.luks");
    for (int attempt = 1; ; attempt++) {
      Cli.Result made = both.theirsOnly("qemu-img", "create", "-q", "-f", "luks", "--object", OBJECT, "-o",
          "key-secret=sec0,iter-time=10,cipher-mode=cbc,ivgen-alg=essiv", image.toString(), "1M");
      // a busy machine makes QEMU's PBKDF2 timing fail now and then ("Unable to get accurate CPU usage")
      if (made.exitCode() == 0 || attempt == 5 || !made.err().contains("accurate CPU usage")) {
        assertThat(made.exitCode()).as(made.toString()).isZero();
        break;
      }
    }
    // the same file, so that the disk size is the same
    for (String[] args : new String[][] {{"info", image.toString()}, {"info", "--output=json", image.toString()},
        {"info", "-f", "luks", "--output=json", image.toString()}}) {
      Cli.Result theirs = Qemu.run(concat("qemu-img", args));
      Cli.Result ours = Cli.run(args);
      assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(theirs.out()).contains("encrypted");
      assertThat(ours.exitCode()).isZero();
    }
    both.copy(image, "a.luks");
    // no secret is needed to describe it, a secret that opens no slot fails as QEMU fails
    Cli.Result wrong = Cli.run("io", "--object", WRONG, "--image-opts",
        "driver=luks,file.filename=" + image + ",key-secret=sec0", "-c", "read 0 512");
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).endsWith(": Invalid password, cannot unlock any keyslot\n").doesNotContain("abd");
    both.run("qemu-img", "convert", "--object", WRONG, "--image-opts",
        "driver=luks,file.filename=@/a.luks,key-secret=sec0", "@/x.raw").same();
    both.run("qemu-img", "convert", "-f", "luks", "@/a.luks", "@/x.raw").same();
    both.run("qemu-img", "create", "-f", "luks", "@/b.luks", "1M").same();
    both.run("qemu-img", "create", "-f", "luks", "--object", OBJECT, "-o", "key-secret=sec0,cipher-alg=foo",
        "@/b.luks", "1M").same();
    both.run("qemu-img", "create", "-f", "luks", "--object", OBJECT, "-o", "key-secret=sec1", "@/b.luks", "1M").same();
  }

  @Test
  void encryptedQcow2CreateAndMeasureAreQemuImgs() throws IOException {
    SideBySide both = new SideBySide();
    for (String options : new String[] {"encrypt.format=luks", "encrypt.key-secret=sec0",
        "encrypt.format=foo,encrypt.key-secret=sec0", "encrypt.format=luks,encryption=on",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=bad",
        // the legacy AES method: made as qemu-img makes it, with the key secret only
        "encryption=on,encrypt.key-secret=sec0", "encrypt.format=aes,encrypt.key-secret=sec0,compat=0.10",
        "encryption=off,encrypt.format=aes,encrypt.key-secret=sec0", "encryption=on",
        "encrypt.format=aes,encrypt.key-secret=sec0,encrypt.cipher-alg=aes-128",
        "encrypt.format=aes,encrypt.key-secret=sec1"}) {
      both.run("qemu-img", "create", "-f", "qcow2", "--object", OBJECT, "-o", options, "@/e.qcow2", "1M").same();
    }
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "--object", OBJECT, "-o", "encryption=on,encrypt.key-secret=sec0",
        "@/aes.qcow2", "1M").same();
    // the same bytes (the disk size, its host allocation, may differ): info on the same file
    assertThat(Files.readAllBytes(both.ours.resolve("aes.qcow2"))).isEqualTo(
        Files.readAllBytes(both.theirs.resolve("aes.qcow2")));
    both.copy(both.theirs.resolve("aes.qcow2"), "aes.qcow2");
    both.run("qemu-img", "info", "@/aes.qcow2").same();
    // qemu-img check opens the image for I/O: the legacy method wants its key too
    both.run("qemu-img", "check", "@/aes.qcow2").same();
    both.run("qemu-img", "check", "--object", OBJECT, "--image-opts",
        "driver=qcow2,file.filename=@/aes.qcow2,encrypt.key-secret=sec0").same();
    for (String options : new String[] {"encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,encrypt.cipher-alg=aes-128,"
            + "encrypt.cipher-mode=cbc", "encrypt.format=luks"}) {
      String[] args = {"measure", "--object", OBJECT, "-O", "qcow2", "-o", options, "--size", "1G"};
      Cli.Result ours = Cli.run(args);
      Cli.Result theirs = null;
      for (int attempt = 1; attempt <= 5; attempt++) {
        theirs = Qemu.run(concat("qemu-img", args));
        // a busy machine makes QEMU's PBKDF2 timing fail now and then
        if (!theirs.err().contains("accurate CPU usage")) {
          break;
        }
      }
      assertThat(ours.out()).as(options).isEqualTo(theirs.out());
      assertThat(ours.exitCode()).as(options).isEqualTo(theirs.exitCode());
    }
    Path image = both.ours.resolve("made.qcow2");
    Cli.Result made = Cli.run("create", "-q", "-f", "qcow2", "--object", OBJECT, "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", image.toString(), "1M");
    assertThat(made.exitCode()).as(made.toString()).isZero();
    Cli.Result ours = Cli.run("info", image.toString());
    Cli.Result theirs = Qemu.run("qemu-img", "info", image.toString());
    assertThat(ours.out()).isEqualTo(theirs.out()).contains("encrypted: yes").contains("    encrypt:\n");
  }

  private static String[] concat(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }

  @Test
  void convertsToAndFromLuks() throws IOException {
    SideBySide both = new SideBySide();
    Path source = both.ours.resolve("src.raw");
    byte[] data = new byte[3 << 20];
    for (int i = 0; i < (1 << 20); i++) {
      data[(1 << 20) + i] = (byte) (i * 31 + 7);
    }
    Files.write(source, data);
    Cli.Result made = Cli.run("convert", "-f", "raw", "-O", "luks", "--object", OBJECT, "-o",
        "key-secret=sec0,iter-time=10", source.toString(), both.ours.resolve("c.luks").toString());
    assertThat(made.exitCode()).as(made.toString()).isZero();
    assertThat(made.err()).isEmpty();
    // qemu-img reads every byte of it, the zeros around the data too
    Cli.Result back = Qemu.run("qemu-img", "convert", "--object", OBJECT, "--image-opts",
        "driver=luks,file.filename=" + both.ours.resolve("c.luks") + ",key-secret=sec0", "-O", "raw",
        both.ours.resolve("q.raw").toString());
    assertThat(back.exitCode()).as(back.toString()).isZero();
    assertThat(Files.readAllBytes(both.ours.resolve("q.raw"))).isEqualTo(data);
    // and so do we
    Cli.Result ours = Cli.run("convert", "--object", OBJECT, "--image-opts",
        "driver=luks,file.filename=" + both.ours.resolve("c.luks") + ",key-secret=sec0", "-O", "raw",
        both.ours.resolve("o.raw").toString());
    assertThat(ours.exitCode()).as(ours.toString()).isZero();
    assertThat(Files.readAllBytes(both.ours.resolve("o.raw"))).isEqualTo(data);
  }

  @Test
  void encryptedBackingFilesAreCreatedOverAndCommittedInto() throws IOException {
    SideBySide both = new SideBySide();
    String secret1 = "secret,id=sec1,data=furby";
    Cli.Result made = null;
    for (int attempt = 1; attempt <= 5; attempt++) {
      made = both.theirsOnly("qemu-img", "create", "-q", "-f", "qcow2", "--object", OBJECT, "-o",
          "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", "@/base.qcow2", "1M");
      if (!made.err().contains("accurate CPU usage")) {
        break;
      }
    }
    assertThat(made.exitCode()).as(made.toString()).isZero();
    both.copy(both.theirs.resolve("base.qcow2"), "base.qcow2");
    Qemu.run("qemu-io", "--object", OBJECT, "--image-opts", "driver=qcow2,file.filename=" + both.theirs
        .resolve("base.qcow2") + ",encrypt.key-secret=sec0", "-c", "write -P 0xa 0 1M");
    both.copy(both.theirs.resolve("base.qcow2"), "base.qcow2");
    // qemu-img create opens the backing file only to learn its size: no secret needed
    both.run("qemu-img", "create", "-f", "qcow2", "-b", "@/base.qcow2", "-F", "qcow2", "@/plain.qcow2").same();
    for (int attempt = 1; attempt <= 5; attempt++) {
      made = both.theirsOnly("qemu-img", "create", "-q", "-f", "qcow2", "--object", secret1, "-o",
          "encrypt.format=luks,encrypt.key-secret=sec1,encrypt.iter-time=10", "-b", "@/base.qcow2", "-F", "qcow2",
          "@/top.qcow2");
      if (!made.err().contains("accurate CPU usage")) {
        break;
      }
    }
    assertThat(made.exitCode()).as(made.toString()).isZero();
    both.copy(both.theirs.resolve("top.qcow2"), "top.qcow2");
    String spec = "driver=qcow2,file.filename=@/top.qcow2,encrypt.key-secret=sec1,backing.driver=qcow2,"
        + "backing.file.filename=@/base.qcow2,backing.encrypt.key-secret=sec0";
    both.run("qemu-io", "--object", OBJECT, "--object", secret1, "-c", "write -P 0xe 0 1024", "--image-opts", spec)
        .same();
    // commit into the backing file the options name, with its own secret
    both.run("qemu-img", "commit", "--object", OBJECT, "--object", secret1, "--image-opts", spec).same();
    both.run("qemu-io", "--object", OBJECT, "-c", "read -P 0xe 0 1024", "-c", "read -P 0xa 1024 1047552",
        "--image-opts", "driver=qcow2,file.filename=@/base.qcow2,encrypt.key-secret=sec0").same();
    // what each tool committed, the other reads
    Cli.Result theirs = Qemu.run("qemu-io", "--object", OBJECT, "-c", "read -P 0xe 0 1024", "--image-opts",
        "driver=qcow2,file.filename=" + both.ours.resolve("base.qcow2") + ",encrypt.key-secret=sec0");
    assertThat(theirs.exitCode()).as(theirs.toString()).isZero();
    assertThat(theirs.out()).doesNotContain("Pattern verification failed");
  }
}
