package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qemu-img amend of LUKS key slots, raw LUKS and LUKS inside qcow2, side by side with qemu-img:
 * the same messages for every refusal, and images each tool opens after the other's amendment with
 * the new secret and not with an erased one.
 */
class LuksAmendTest {
  private static final String[] SECRETS = {"--object", "secret,id=sec0,data=hunter0", "--object",
      "secret,id=sec1,data=hunter1", "--object", "secret,id=sec2,data=hunter2"};

  @ParameterizedTest
  @ValueSource(strings = {"luks", "qcow2"})
  void keySlotAmendmentsAreQemuImgs(String format) {
    SideBySide both = new SideBySide();
    String prefix = format.equals("qcow2") ? "encrypt." : "";
    String name = "a." + format;
    List<String> create = new ArrayList<>(List.of("create", "-q", "-f", format));
    create.addAll(List.of(SECRETS));
    create.addAll(List.of("-o", (format.equals("qcow2") ? "encrypt.format=luks," : "") + prefix + "key-secret=sec0,"
        + prefix + "iter-time=10", "@/" + name, "1M"));
    Cli.Result made = retried(() -> both.theirsOnly("qemu-img", create.toArray(String[]::new)));
    assertThat(made.exitCode()).as(made.toString()).isZero();
    both.copy(both.theirs.resolve(name), name);

    String[] refusals = {"new-secret=sec1", "state=foo", "state=active", "state=active,keyslot=8,new-secret=sec1",
        "state=active,keyslot=-1,new-secret=sec1", "state=active,keyslot=x", "state=active,new-secret=sec1,"
            + "old-secret=sec0", "state=inactive", "state=inactive,new-secret=sec1", "state=inactive,iter-time=10",
        "state=active,new-secret=sec9,iter-time=10", "state=inactive,keyslot=3,old-secret=sec0",
        "state=inactive,keyslot=3", "state=inactive,keyslot=-1", "state=inactive,old-secret=sec9",
        "state=inactive,old-secret=sec1", "state=inactive,keyslot=0", "state=inactive,old-secret=sec0",
        "state=active,new-secret=sec1,keyslot=0", "bogus=1"};
    for (String options : refusals) {
      Cli.Result theirs = amend(both, format, name, "sec0", prefixed(options, prefix));
      assertThat(theirs.exitCode()).as(options).isEqualTo(1);
    }
    // slot 3 under sec1, then slot 1 under sec2 opened with sec1; slot 0 (sec0) erased by its secret
    amend(both, format, name, "sec0", prefixed("state=active,new-secret=sec1,iter-time=10,keyslot=3", prefix));
    amend(both, format, name, "sec1", prefixed("state=active,new-secret=sec2,iter-time=10", prefix));
    amend(both, format, name, "sec2", prefixed("state=inactive,old-secret=sec0", prefix));
    amend(both, format, name, "sec2", prefixed("state=inactive,keyslot=1", prefix));
    // the last slot only with force
    amend(both, format, name, "sec1", prefixed("state=inactive,keyslot=3", prefix));
    amend(both, format, name, "sec1", prefixed("state=inactive,keyslot=5", prefix), "--force");
    amend(both, format, name, "sec1", prefixed("state=active,new-secret=sec0,iter-time=10,keyslot=3", prefix),
        "--force");

    // each tool opens the other's image: with sec0 only (slot 3 now holds it)
    for (Path dir : List.of(both.theirs, both.ours)) {
      String image = dir.resolve(name).toString();
      for (String secret : List.of("sec0", "sec1", "sec2")) {
        boolean opens = secret.equals("sec0");
        List<String> args = new ArrayList<>(List.of(SECRETS));
        args.addAll(List.of("-c", "read 0 4k", "--image-opts", imageOpts(format, image, secret)));
        Cli.Result theirs = Qemu.run(concat("qemu-io", args));
        Cli.Result ours = Cli.run(concat("io", args));
        assertThat(theirs.exitCode()).as(dir + " " + secret + theirs).isEqualTo(opens ? 0 : 1);
        assertThat(ours.exitCode()).as(dir + " " + secret + ours).isEqualTo(opens ? 0 : 1);
        if (!opens) {
          assertThat(theirs.err()).isEqualTo("qemu-io: can't open: Invalid password, cannot unlock any keyslot\n");
          assertThat(ours.err()).isEqualTo("qcow4j: can't open: Invalid password, cannot unlock any keyslot\n");
        }
      }
      Cli.Result info = Qemu.run("qemu-img", "info", "--output=json", image);
      assertThat(info.out().replaceAll("\\s", "")).contains("\"active\":true,\"iters\"")
          .doesNotContain("\"active\":true,\"iters\":0");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"luks", "qcow2"})
  void amendHelpIsQemuImgs(String format) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "amend", "-f", format, "-o", "help").same();
    if (format.equals("qcow2")) {
      both.run("qemu-img", "create", "-q", "-f", "qcow2", "@/plain.qcow2", "1M").same();
      both.run("qemu-img", "amend", "-o", "encrypt.state=active,encrypt.new-secret=sec0", "@/plain.qcow2").same();
      // the encrypt.* options come first: refused before the unknown compat level
      both.run("qemu-img", "amend", "-o", "encrypt.keyslot=1,compat=3", "@/plain.qcow2").same();
      both.run("qemu-img", "amend", "-o", "encrypt.keyslot=1,compat=0.10", "@/plain.qcow2").same();
      both.run("qemu-img", "create", "-q", "-f", "qcow2", SECRETS[0], SECRETS[1], "-o",
          "encryption=on,encrypt.key-secret=sec0", "@/aes.qcow2", "1M").same();
      both.run("qemu-img", "amend", SECRETS[0], SECRETS[1], "-o", "encrypt.state=inactive,encrypt.keyslot=0",
          "--image-opts", "driver=qcow2,file.filename=@/aes.qcow2,encrypt.key-secret=sec0").same();
    } else {
      Cli.Result made = retried(() -> both.theirsOnly("qemu-img", "create", "-q", "-f", "luks", SECRETS[0], SECRETS[1],
          "-o", "key-secret=sec0,iter-time=10", "@/a.luks", "1M"));
      assertThat(made.exitCode()).as(made.toString()).isZero();
      both.copy(both.theirs.resolve("a.luks"), "a.luks");
      // qemu-img opens the image before it reads the options
      both.run("qemu-img", "amend", "-f", "luks", "-o", "size=2M", "@/a.luks").same();
      both.run("qemu-img", "amend", SECRETS[0], SECRETS[1], "-o", "size=2M", "--image-opts",
          "driver=luks,file.filename=@/a.luks,key-secret=sec0").same();
    }
  }

  /**
   * Runs one amend with qemu-img and with qcow4j, each on its copy, and asserts the same exit
   * status and messages. qemu-img's PBKDF timing fails now and then on a busy machine ("Unable to
   * get accurate CPU usage"): its run is made again then.
   */
  private static Cli.Result amend(SideBySide both, String format, String name, String secret, String options,
      String... more) {
    List<String> args = new ArrayList<>(List.of("amend"));
    args.addAll(List.of(SECRETS));
    args.addAll(List.of(more));
    args.addAll(List.of("--image-opts", imageOpts(format, "@/" + name, secret), "-o", options));
    String[] words = args.toArray(String[]::new);
    Cli.Result theirs = retried(() -> both.theirsOnly("qemu-img", words));
    List<String> ourWords = new ArrayList<>();
    for (String word : words) {
      ourWords.add(word.replace("@/", both.ours + "/"));
    }
    Cli.Result ours = Cli.run(ourWords.toArray(String[]::new));
    assertThat(ours.exitCode()).as(options + "\nqemu: " + theirs + "\nours: " + ours).isEqualTo(theirs.exitCode());
    assertThat(ours.err().replace(both.ours + "/", "@/")).as(options)
        .isEqualTo(theirs.err().replace(both.theirs + "/", "@/").replaceAll("(?m)^qemu-img: ", "qcow4j: "));
    assertThat(ours.out()).as(options).isEqualTo(theirs.out());
    return theirs;
  }

  private static Cli.Result retried(java.util.function.Supplier<Cli.Result> run) {
    Cli.Result result = run.get();
    for (int attempt = 1; attempt < 5 && result.err().contains("accurate CPU usage"); attempt++) {
      result = run.get();
    }
    return result;
  }

  private static String imageOpts(String format, String file, String secret) {
    return "driver=" + format + ",file.filename=" + file + "," + (format.equals("qcow2") ? "encrypt." : "")
        + "key-secret=" + secret;
  }

  private static String prefixed(String options, String prefix) {
    return options.replaceAll("(^|,)", "$1" + prefix);
  }

  private static String[] concat(String tool, List<String> args) {
    List<String> all = new ArrayList<>(List.of(tool));
    all.addAll(args);
    return all.toArray(String[]::new);
  }
}
