package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Image specs on every command: an image named by its file, by "json:{...}" and by --image-opts
 * reads the same (and as qemu-img reads it); unknown options, bad values and --object
 * definitions are refused with QEMU's messages; -U is taken where the QEMU tool takes it.
 */
class ImageSpecCommandTest {
  private static final Pattern TIMING = Pattern.compile("Run completed in [0-9.]+ seconds\\.");
  private static final Pattern IO_TIMING = Pattern.compile("(?m)^(\\S+ \\S+, \\d+ ops; ).*$");

  /** The three ways to name one image, as argument lists (the option, if any, then the name). */
  private static List<List<String>> forms(Path image, String format) {
    return List.of(
        List.of("-f", format, image.toString()),
        List.of("json:{\"driver\":\"" + format + "\",\"file\":{\"driver\":\"file\",\"filename\":\"" + image + "\"}}"),
        List.of("--image-opts", "driver=" + format + ",file.filename=" + image));
  }

  private static String[] args(List<String> before, List<String> image, List<String> after) {
    List<String> all = new ArrayList<>(before);
    all.addAll(image);
    all.addAll(after);
    return all.toArray(String[]::new);
  }

  private static String[] qemu(String tool, String[] args) {
    List<String> all = new ArrayList<>(List.of(tool));
    all.addAll(Arrays.asList(args));
    return all.toArray(String[]::new);
  }

  static Stream<Arguments> images() {
    return Stream.of(Arguments.of("top.qcow2", "qcow2"), Arguments.of("default.qcow2", "qcow2"),
        Arguments.of("v2.qcow2", "qcow2"), Arguments.of("datafile-raw.qcow2", "qcow2"),
        Arguments.of("sparse.raw", "raw"));
  }

  @ParameterizedTest
  @MethodSource("images")
  void infoIsTheSameByEveryNameAndAsQemuImgs(String name, String format) {
    Path image = TestImages.path(name);
    for (String output : List.of("human", "json")) {
      String first = null;
      for (List<String> form : forms(image, format)) {
        String[] args = args(List.of("info", "--output=" + output), form, List.of());
        Cli.Result ours = Cli.run(args);
        assertThat(ours.exitCode()).as(String.join(" ", args) + ": " + ours.err()).isZero();
        assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(Qemu.check(qemu("qemu-img", args)));
        if (first == null) {
          first = ours.out();
        }
        assertThat(ours.out()).as("the same image by another name: " + form).isEqualTo(first);
      }
    }
  }

  /** Commands that only read, each with what goes before and after the image. */
  static Stream<Arguments> readingCommands() {
    return Stream.of(
        Arguments.of("qemu-img", List.of("map"), List.of()),
        Arguments.of("qemu-img", List.of("map", "--output=json"), List.of()),
        Arguments.of("qemu-img", List.of("check"), List.of()),
        Arguments.of("qemu-img", List.of("check", "--output=json"), List.of()),
        Arguments.of("qemu-img", List.of("measure", "-O", "qcow2"), List.of()),
        Arguments.of("qemu-img", List.of("measure", "--output=json", "-O", "qcow2", "-o", "cluster_size=4k"), List.of()),
        Arguments.of("qemu-img", List.of("info", "--backing-chain"), List.of()),
        Arguments.of("qemu-io", List.of("-r", "-c", "read 1M 64k", "-c", "map"), List.of()),
        Arguments.of("qemu-img", List.of("bench", "-c", "50", "-s", "64k"), List.of()));
  }

  @ParameterizedTest
  @MethodSource("readingCommands")
  void everyReadingCommandReadsTheSameImageByEveryName(String tool, List<String> before, List<String> after) {
    for (String name : List.of("mid.qcow2", "sparse.raw")) {
      String format = name.endsWith(".raw") ? "raw" : "qcow2";
      if (before.contains("check") && format.equals("raw")) {
        continue;
      }
      String first = null;
      for (List<String> form : forms(TestImages.path(name), format)) {
        String[] args = args(before, form, after);
        Cli.Result ours = tool.equals("qemu-io") ? Cli.run(args(List.of("io"), List.of(args), List.of()))
            : Cli.run(args);
        Cli.Result theirs = Qemu.run(qemu(tool, args));
        String command = tool + " " + String.join(" ", args);
        assertThat(ours.exitCode()).as(command + ": " + ours.err()).isEqualTo(theirs.exitCode()).isZero();
        String out = normalize(ours.out());
        if (!before.contains("bench")) {
          assertThat(out).as(command).isEqualTo(normalize(theirs.out()));
        }
        // check names the image as the command line does
        out = out.replaceFirst("\"filename\": \".*\",\n", "");
        if (first == null) {
          first = out;
        }
        assertThat(out).as("the same image by another name: " + command).isEqualTo(first);
      }
    }
  }

  private static String normalize(String out) {
    return IO_TIMING.matcher(TIMING.matcher(out).replaceAll("Run completed")).replaceAll("$1<time>");
  }

  @Test
  void compareAndSnapshotListTakeEveryForm() {
    String top = TestImages.path("top.qcow2").toString();
    String json = "json:{\"driver\":\"qcow2\",\"file\":{\"filename\":\"" + top + "\"}}";
    String options = "driver=qcow2,file.filename=" + top;
    List<String[]> compares = List.of(new String[] {"compare", "-f", "qcow2", "-F", "qcow2", top, top},
        new String[] {"compare", json, json}, new String[] {"compare", "--image-opts", options, options});
    for (String[] compare : compares) {
      Cli.Result ours = Cli.run(compare);
      assertThat(ours.exitCode()).as(String.join(" ", compare) + ": " + ours.err()).isZero();
      assertThat(ours.out()).isEqualTo(Qemu.check(qemu("qemu-img", compare))).isEqualTo("Images are identical.\n");
    }
    List<String[]> lists = List.of(new String[] {"snapshot", "-l", top}, new String[] {"snapshot", "-l", json},
        new String[] {"snapshot", "-l", "--image-opts", options});
    for (String[] list : lists) {
      Cli.Result listed = Cli.run(list);
      assertThat(listed.exitCode()).as(listed.err()).isZero();
      assertThat(listed.out()).isEqualTo(Qemu.check(qemu("qemu-img", list))).contains("snap1");
    }
  }

  @Test
  void convertCopiesTheSameContentByEveryName() throws IOException {
    Path dir = TestImages.scratch();
    Path top = TestImages.path("top.qcow2");
    Path expected = dir.resolve("expected.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", top.toString(), expected.toString());
    int index = 0;
    for (List<String> form : forms(top, "qcow2")) {
      Path target = dir.resolve("out" + index++ + ".raw");
      Cli.Result ours = Cli.run(args(List.of("convert", "-O", "raw"), form, List.of(target.toString())));
      assertThat(ours.exitCode()).as(ours.err()).isZero();
      assertThat(Files.mismatch(target, expected)).as("converted through " + form).isEqualTo(-1);
    }
    // into an existing target named by its options
    Path existing = dir.resolve("existing.raw");
    Files.write(existing, new byte[(int) Files.size(expected)]);
    Cli.Result ours = Cli.run("convert", "-n", "--target-image-opts", top.toString(),
        "driver=raw,file.filename=" + existing);
    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(Files.mismatch(existing, expected)).isEqualTo(-1);
  }

  /** Commands that change an image: each form works on its own copy, and all copies end alike. */
  static Stream<Arguments> changingCommands() {
    return Stream.of(
        Arguments.of(List.of("resize"), List.of("+1M"), "default.qcow2"),
        Arguments.of(List.of("amend", "-o", "lazy_refcounts=on"), List.of(), "default.qcow2"),
        Arguments.of(List.of("snapshot", "-c", "snap2"), List.of(), "default.qcow2"),
        Arguments.of(List.of("rebase", "-u", "-b", ""), List.of(), "mid.qcow2"),
        Arguments.of(List.of("commit", "-d"), List.of(), "mid.qcow2"));
  }

  @ParameterizedTest
  @MethodSource("changingCommands")
  void everyChangingCommandChangesTheSameImageByEveryName(List<String> before, List<String> after, String name)
      throws IOException {
    String first = null;
    for (int index = 0; index < 3; index++) {
      Path dir = TestImages.scratch();
      Path image = dir.resolve(name);
      Files.copy(TestImages.path(name), image);
      Files.copy(TestImages.path("base.raw"), dir.resolve("base.raw"));
      List<String> form = forms(image, "qcow2").get(index);
      if (before.getFirst().equals("snapshot") && index == 0) {
        // qemu-img snapshot takes no -f
        form = form.subList(2, 3);
      }
      Cli.Result ours = Cli.run(args(before, form, after));
      assertThat(ours.exitCode()).as(String.join(" ", args(before, form, after)) + ": " + ours.err()).isZero();
      String info = Qemu.check("qemu-img", "info", "--output=json", image.toString())
          .replaceAll("\"date-(n?sec)\": \\d+", "\"date-$1\": 0").replace(dir + "/", "");
      String map = Qemu.check("qemu-img", "map", "--output=json", image.toString());
      String state = info + map;
      if (first == null) {
        first = state;
      }
      assertThat(state).as("the same change by another name: " + form).isEqualTo(first);
    }
  }

  @Test
  void serveOpensEveryForm() {
    for (List<String> form : forms(TestImages.path("top.qcow2"), "qcow2")) {
      // a socket path that cannot be bound: the image is opened first, then listening fails
      Cli.Result ours = Cli.run(args(List.of("serve", "-r", "-k", "/nonexistent-dir/socket"), form, List.of()));
      assertThat(ours.exitCode()).isEqualTo(1);
      assertThat(ours.err()).as("opened, then failed to listen")
          .isEqualTo("qcow4j: Failed to bind socket to /nonexistent-dir/socket: No such file or directory\n");
    }
  }

  /** Refusals of a spec, each compared with qemu-img's message. */
  static Stream<Arguments> refusals() {
    String top = TestImages.path("top.qcow2").toString();
    String raw = TestImages.path("sparse.raw").toString();
    String plain = TestImages.path("default.qcow2").toString();
    return Stream.of(
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",bogus=1")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",file.bogus=1")),
        Arguments.of(List.of("info", "--image-opts", "driver=raw,file.filename=" + raw + ",lazy-refcounts=on")),
        Arguments.of(List.of("info", "json:{\"file.filename\":\"" + top + "\",\"bogus\":1}")),
        Arguments.of(List.of("info", "json:{\"file\":{\"filename\":\"" + top + "\"},\"x\":[1]}")),
        Arguments.of(List.of("info", "json:{\"file\":{\"filename\":\"" + top + "\"}")),
        Arguments.of(List.of("info", "json:[1]")),
        Arguments.of(List.of("map", "--image-opts", "driver=qcow2,file.filename=" + top + ",backing.bogus=1")),
        Arguments.of(List.of("map", "--image-opts", "driver=qcow2,file.filename=" + top + ",backing=node0")),
        Arguments.of(List.of("map", "--image-opts", "driver=qcow2,file.filename=" + plain + ",data-file.filename=x")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",backing.driver=raw")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",lazy-refcounts=maybe")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",file.locking=maybe")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",l2-cache-entry-size=3000")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",cache-size=1M,l2-cache-size=2M")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",overlap-check=bogus")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",discard-no-unref=on")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",force-share=on,read-only=off")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2")),
        Arguments.of(List.of("info", "--image-opts", "")),
        Arguments.of(List.of("info", "--image-opts", top)),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",file=" + top)),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=" + top + ",force-share")),
        Arguments.of(List.of("info", "--image-opts", "driver=qcow2,file.filename=/nonexistent/x")),
        Arguments.of(List.of("info", "-f", "qcow2", "--image-opts", "driver=qcow2,file.filename=" + top)),
        Arguments.of(List.of("info", "-U", "--image-opts", "driver=qcow2,file.filename=" + top + ",force-share=off")),
        Arguments.of(List.of("convert", "--target-image-opts", top, "driver=raw,file.filename=/nonexistent/x")),
        Arguments.of(List.of("convert", "-l", "snapshot.bogus=1", top, "/nonexistent/x")),
        Arguments.of(List.of("check", "--image-opts", "driver=qcow2,file.filename=" + top + ",node-name=0x")));
  }

  @ParameterizedTest
  @MethodSource("refusals")
  void refusalsAreQemuImgs(List<String> args) {
    Cli.Result theirs = Qemu.run(qemu("qemu-img", args.toArray(String[]::new)));
    Cli.Result ours = Cli.run(args.toArray(String[]::new));
    assertThat(ours.exitCode()).as(theirs.err()).isEqualTo(theirs.exitCode());
    assertThat(ours.err()).isEqualTo(theirs.err().replaceAll("(?m)^qemu-img: ", "qcow4j: "));
    assertThat(ours.out()).isEqualTo(theirs.out());
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "driver=qcow2,file.filename=IMAGE,bogus=1", "driver=qcow2,file.filename=IMAGE,force-share=on", "IMAGE",
    "driver=qcow2,file.filename=IMAGE,file.aio=native"})
  void qemuIoRefusesAsQemuIo(String spec) {
    String options = spec.replace("IMAGE", TestImages.path("top.qcow2").toString());
    Cli.Result theirs = Qemu.run("qemu-io", "-c", "read 0 512", "--image-opts", options);
    Cli.Result ours = Cli.run("io", "-c", "read 0 512", "--image-opts", options);
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.err()).isEqualTo(theirs.err().replaceAll("(?m)^qemu-io: ", "qcow4j: "));
  }

  /** --object definitions, each run with qemu-img info and qcow4j info. */
  static Stream<Arguments> objects() throws IOException {
    Path secretFile = TestImages.scratch().resolve("secret.txt");
    Files.writeString(secretFile, "from a file");
    return Stream.of("secret,id=s0,data=abc", "secret,id=s0,file=" + secretFile, "secret,id=s0,data=YWJj,format=base64",
        "{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"abc\"}", "secret,id=s0", "secret,id=s0,data=a,file=b",
        "secret,data=a", "secret,id=0s,data=a", "secret,id=s0,data=a,bogus=1", "secret,id=s0,data=a,format=x",
        "secret,id=s0,data=!!!,format=base64", "secret,id=s0,data=abc,keyid=s9", "secret,id=s0,file=/nonexistent/x",
        "memory-backend-ram,id=m0,size=1M", "bogus-type,id=x", "id=s0,data=a", "secret,id=s0,data=a,loaded=on")
        .map(Arguments::of);
  }

  @ParameterizedTest
  @MethodSource("objects")
  void objectsAreDefinedOrRefusedAsQemuImgDoes(String definition) {
    String image = TestImages.path("default.qcow2").toString();
    Cli.Result theirs = Qemu.run("qemu-img", "info", "--object", definition, image);
    Cli.Result ours = Cli.run("info", "--object", definition, image);
    assertThat(ours.exitCode()).as(theirs.err()).isEqualTo(theirs.exitCode());
    assertThat(Failures.oneLine(ours.err())).isEqualTo(Failures.oneLine(theirs.err().replaceAll("(?m)^qemu-img: ", "qcow4j: ")));
    assertThat(ours.out()).isEqualTo(theirs.out());
  }

  @Test
  void aSecondSecretWithTheSameIdAndObjectsOnOtherTools() {
    String image = TestImages.path("default.qcow2").toString();
    Cli.Result twice = Cli.run("info", "--object", "secret,id=s0,data=a", "--object", "secret,id=s0,data=b", image);
    assertThat(twice.exitCode()).isEqualTo(1);
    assertThat(twice.err()).isEqualTo("qcow4j: attempt to add duplicate property 's0' to object (type 'container')\n");
    Cli.Result io = Cli.run("io", "-r", "--object", "secret,id=s0,data=x", "-c", "read 0 512", image);
    assertThat(io.exitCode()).as(io.err()).isZero();
    Cli.Result bench = Cli.run("bench", "--object", "secret,id=s0,data=x", "-c", "1", image);
    assertThat(bench.exitCode()).isEqualTo(Qemu.run("qemu-img", "bench", "--object", "secret,id=s0,data=x", "-c", "1",
        image).exitCode()).isEqualTo(1);
  }

  @Test
  void aKeySecretIsKeptAndNamesTheImage() {
    String top = TestImages.path("top.qcow2").toString();
    String[] args = {"info", "--image-opts", "driver=qcow2,file.filename=" + top + ",encrypt.key-secret=sec0"};
    Cli.Result ours = Cli.run(args);
    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(ours.out()).isEqualTo(Qemu.check(qemu("qemu-img", args)))
        .startsWith("image: json:{\"encrypt.key-secret\": \"sec0\", \"driver\": \"qcow2\"");
  }

  @Test
  void anEncryptedImageIsRefusedAsNotSupportedYet() {
    Path dir = TestImages.scratch();
    Path image = dir.resolve("enc.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=pass", "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", image.toString(), "1M");
    String spec = "driver=qcow2,file.filename=" + image + ",encrypt.key-secret=sec0";
    Cli.Result missing = Cli.run("io", "-r", "-c", "read 0 512", "--image-opts", spec);
    Cli.Result theirs = Qemu.run("qemu-io", "-r", "-c", "read 0 512", "--image-opts", spec);
    assertThat(missing.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
    assertThat(missing.err()).isEqualTo(theirs.err().replaceAll("(?m)^qemu-io: ", "qcow4j: "));
    Cli.Result given = Cli.run("io", "-r", "--object", "secret,id=sec0,data=pass", "-c", "read 0 512",
        "--image-opts", spec);
    assertThat(given.exitCode()).isEqualTo(1);
    assertThat(given.err()).contains("not supported yet").contains("secret 'sec0'");
  }

  /** -U on each command, taken or refused with the exit status of the QEMU tool. */
  static Stream<Arguments> forceShare() {
    return Stream.of(
        Arguments.of(List.of("qemu-img", "info", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "check", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "map", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "snapshot", "-l", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "snapshot", "-c", "s9", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "compare", "-U", "IMAGE", "IMAGE")),
        Arguments.of(List.of("qemu-img", "convert", "-U", "-O", "raw", "IMAGE", "DIR/out.raw")),
        Arguments.of(List.of("qemu-img", "measure", "-U", "-O", "qcow2", "IMAGE")),
        Arguments.of(List.of("qemu-img", "bench", "-U", "-c", "1", "IMAGE")),
        Arguments.of(List.of("qemu-img", "bench", "-U", "-w", "-c", "1", "IMAGE")),
        Arguments.of(List.of("qemu-img", "rebase", "-U", "-u", "-b", "", "IMAGE")),
        Arguments.of(List.of("qemu-img", "resize", "-U", "IMAGE", "+1M")),
        Arguments.of(List.of("qemu-img", "commit", "-U", "IMAGE")),
        Arguments.of(List.of("qemu-img", "amend", "-U", "-o", "lazy_refcounts=on", "IMAGE")),
        Arguments.of(List.of("qemu-img", "create", "-U", "-f", "qcow2", "DIR/new.qcow2", "1M")),
        Arguments.of(List.of("qemu-img", "info", "-U", "--image-opts", "driver=qcow2,file.filename=IMAGE,force-share=on")),
        Arguments.of(List.of("qemu-io", "-U", "-c", "read 0 512", "IMAGE")),
        Arguments.of(List.of("qemu-io", "-U", "-r", "-c", "read 0 512", "IMAGE")),
        Arguments.of(List.of("qemu-io", "-r", "-c", "read 0 512", "--image-opts", "driver=qcow2,file.filename=IMAGE,force-share=on")),
        Arguments.of(List.of("qemu-io", "-c", "read 0 512", "--image-opts", "driver=qcow2,file.filename=IMAGE,force-share=on")));
  }

  @ParameterizedTest
  @MethodSource("forceShare")
  void forceShareIsTakenWhereQemuTakesIt(List<String> command) {
    int theirs = runOnCopy(command, args -> Qemu.run(args.toArray(String[]::new))).exitCode();
    Cli.Result ours = runOnCopy(command, args -> {
      List<String> qcow4j = new ArrayList<>(args.subList(1, args.size()));
      if (args.getFirst().equals("qemu-io")) {
        qcow4j.addFirst("io");
      }
      return Cli.run(qcow4j.toArray(String[]::new));
    });
    assertThat(ours.exitCode()).as(String.join(" ", command) + ": " + ours.err()).isEqualTo(theirs);
  }

  @Test
  void serveTakesNoForceShare() {
    Cli.Result ours = Cli.run("serve", "-U", TestImages.path("default.qcow2").toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(Qemu.run("qemu-nbd", "-U", TestImages.path("default.qcow2").toString()).exitCode()).isEqualTo(1);
  }

  private static Cli.Result runOnCopy(List<String> command, Function<List<String>, Cli.Result> runner) {
    try {
      Path dir = TestImages.scratch();
      Path image = dir.resolve("image.qcow2");
      Files.copy(TestImages.path("mid.qcow2"), image, StandardCopyOption.REPLACE_EXISTING);
      Files.copy(TestImages.path("base.raw"), dir.resolve("base.raw"), StandardCopyOption.REPLACE_EXISTING);
      List<String> args = command.stream().map(arg -> arg.replace("IMAGE", image.toString()).replace("DIR", dir.toString()))
          .toList();
      return runner.apply(args);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
