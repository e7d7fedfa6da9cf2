package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.OtherFormats;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Format probing on the command line: images of formats qcow4j does not read are refused by name by
 * every command (qemu-img reads them, we must not take them for raw), and a raw image opened by
 * probing warns and guards its first sector as qemu-img and qemu-io do.
 */
class ProbingTest {
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow4j.testing.OtherFormats#unsupported")
  void infoRefusesEveryFormatItDoesNotReadByName(OtherFormats.Recipe recipe) {
    Path image = recipe.create(TestImages.scratch());
    assertThat(Qemu.check("qemu-img", "info", image.toString())).contains("file format: " + recipe.probesAs() + "\n");

    Cli.Result ours = Cli.run("info", image.toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.out()).isEmpty();
    assertThat(ours.err()).isEqualTo("qcow4j: Could not open '" + image + "': image format '" + recipe.probesAs()
        + "' is not supported by qcow4j\n");
  }

  @ParameterizedTest
  @ValueSource(strings = {"info @", "check @", "check -r all @", "map @", "compare @ @/other.raw",
      "convert -O raw @ @/out.raw", "measure -O qcow2 @", "amend -o size=2M @", "commit @", "rebase -u -F raw -b other.raw @",
      "resize @ 2M", "snapshot -l @", "snapshot -c s @", "bench -c 1 @", "io -c length @", "io -r -c length @",
      "serve @"})
  void everyCommandRefusesAParallelsImageByName(String arguments) throws IOException {
    Path dir = TestImages.scratch();
    Path image = OtherFormats.all().stream().filter(recipe -> recipe.name().equals("parallels"))
        .findFirst().orElseThrow().create(dir);
    Files.write(dir.resolve("other.raw"), new byte[1 << 20]);
    byte[] before = Files.readAllBytes(image);

    String[] args = arguments.replace("@/", dir + "/").replace("@", image.toString()).split(" ");
    Cli.Result ours = Cli.run(args);
    assertThat(ours.exitCode()).as(ours.toString()).isNotZero();
    // qemu-io names the image as "can't open device NAME: reason", the others quote the file
    String named = arguments.startsWith("io ") ? "can't open device " + image : "'" + image + "'";
    assertThat(ours.err()).contains(named + ": image format 'parallels' is not supported by qcow4j");
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
    assertThat(dir.resolve("out.raw")).doesNotExist();
  }

  @ParameterizedTest
  @CsvSource({"recorded, info --backing-chain", "recorded, map", "recorded, convert -O raw", "recorded, io -r -c length",
      "probed, info --backing-chain", "probed, map", "probed, convert -O raw", "probed, io -r -c length"})
  void aBackingFileInAFormatItDoesNotReadIsRefusedByName(String backingFormat, String command) throws IOException {
    Path dir = TestImages.scratch();
    Path base = dir.resolve("base.parallels");
    Path top = dir.resolve("top.qcow2");
    if (backingFormat.equals("recorded")) {
      Qemu.check("qemu-img", "create", "-q", "-f", "parallels", base.toString(), "1M");
      Qemu.createQcow2(top, null, "-b", base.toString(), "-F", "parallels");
    } else {
      // an overlay without a backing format, made over a raw file that then becomes a Parallels image
      Files.write(base, new byte[1 << 20]);
      QcowFile.create(top, CreateOptions.of(1 << 20).withBacking(base.toString(), null)).close();
      Files.delete(base);
      Qemu.check("qemu-img", "create", "-q", "-f", "parallels", base.toString(), "1M");
    }
    List<String> args = new ArrayList<>(List.of(command.split(" ")));
    args.add(top.toString());
    if (command.startsWith("convert")) {
      args.add(dir.resolve("out.raw").toString());
    }
    Cli.Result ours = Cli.run(args.toArray(String[]::new));
    assertThat(ours.exitCode()).as(ours.toString()).isNotZero();
    assertThat(ours.err()).contains(base.toString()).contains("image format 'parallels' is not supported by qcow4j");
    assertThat(dir.resolve("out.raw")).doesNotExist();
  }

  @ParameterizedTest
  @ValueSource(strings = {"info -f raw @/x.vmdk", "map -f raw @/x.vmdk", "compare -f raw -F raw @/x.vmdk @/x.vmdk"})
  void namedRawReadsTheContainerAsQemuImgDoes(String arguments) {
    Path dir = TestImages.scratch();
    Path image = OtherFormats.all().stream().filter(recipe -> recipe.name().equals("vmdk-streamOptimized"))
        .findFirst().orElseThrow().create(dir);
    new SideBySide().copy(image, "x.vmdk").run("qemu-img", arguments.split(" ")).same();
  }

  @Test
  void probedRawGuardsItsFirstSectorAsQemuIoDoes() throws IOException {
    Path headers = TestImages.scratch();
    Path qcow2 = headers.resolve("q.qcow2");
    Qemu.createQcow2(qcow2, "1M");
    Files.write(headers.resolve("qcow2.hdr"), Arrays.copyOf(Files.readAllBytes(qcow2), 512));
    Files.write(headers.resolve("vmdk.hdr"), "# Disk DescriptorFile\nversion=1\n".getBytes(StandardCharsets.US_ASCII));

    Path zeros = headers.resolve("zeros.raw");
    Files.write(zeros, new byte[1 << 20]);
    SideBySide both = new SideBySide().copy(headers.resolve("qcow2.hdr"), "qcow2.hdr")
        .copy(headers.resolve("vmdk.hdr"), "vmdk.hdr").copy(zeros, "victim.raw");

    both.run("qemu-io", "-c", "write -s @/qcow2.hdr 0 512", "-c", "write -s @/qcow2.hdr 0 4", "-c",
        "write -s @/vmdk.hdr 0 32", "-c", "write -s @/vmdk.hdr 100 32", "-c", "write -s @/qcow2.hdr 512 512",
        "-c", "write -P 0x41 0 512", "-c", "write -z 0 4k", "-c", "writev -P 0x42 0 256 256", "@/victim.raw").same();
    assertSameFile(both, "victim.raw");

    // named raw: nothing is guarded and nothing is said
    both.run("qemu-io", "-f", "raw", "-c", "write -s @/qcow2.hdr 0 512", "@/victim.raw").same();
    assertSameFile(both, "victim.raw");
    assertThat(DiskImages.probe(both.ours.resolve("victim.raw"))).isEqualTo(ImageFormat.QCOW2);
  }

  @ParameterizedTest
  @ValueSource(strings = {"resize @/w.raw 2M", "check -r all @/w.raw", "check @/w.raw", "amend -o size=1M @/w.raw",
      "commit @/w.raw", "snapshot -c s @/w.raw", "snapshot -l @/w.raw", "info @/w.raw"})
  void readWriteOpensOfAProbedRawWarnAsQemuImgDoes(String arguments) {
    Path zeros = TestImages.scratch().resolve("w.raw");
    try {
      Files.write(zeros, new byte[1 << 20]);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    new SideBySide().copy(zeros, "w.raw").run("qemu-img", arguments.split(" ")).same();
  }

  private static void assertSameFile(SideBySide both, String name) throws IOException {
    assertThat(Files.mismatch(both.ours.resolve(name), both.theirs.resolve(name))).as(name).isEqualTo(-1L);
  }
}
