package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow4j bitmap against qemu-img bitmap: the same messages and exit status, and images that
 * qemu-img then reads the same (info's bitmap list, qemu-nbd's dirty-bitmap map, check clean).
 */
class BitmapCommandTest {

  /** Command lines after "bitmap" on copies of t.qcow2 (bitmap b0, 3M written) and s.qcow2 (bitmap sb, 1M written). */
  @ParameterizedTest
  @ValueSource(strings = {
      "--add @/t.qcow2 new", "--add -g 512 --disable @/t.qcow2 new", "--add --granularity 2G @/t.qcow2 new",
      "--add @/t.qcow2 b0", "--add -g 3k @/t.qcow2 x", "--add -g 4G @/t.qcow2 x", "--add -g 1x @/t.qcow2 x",
      "--remove @/t.qcow2 b0", "--remove @/t.qcow2 nope", "--clear --disable @/t.qcow2 b0",
      "--disable --enable @/t.qcow2 b0", "--enable @/t.qcow2 nope",
      "--merge sb -b @/s.qcow2 -F qcow2 @/t.qcow2 b0", "--merge sb -b @/s.qcow2 @/t.qcow2 b0",
      "--merge nope -b @/s.qcow2 @/t.qcow2 b0", "--merge b0 --add @/t.qcow2 n2", "--add --merge b0 @/t.qcow2 n2",
      "--add --disable --add @/t.qcow2 y", "@/t.qcow2 b0", "--add @/t.qcow2", "-g 1k --clear @/t.qcow2 b0",
      "-F raw --clear @/t.qcow2 b0", "-b @/s.qcow2 --clear @/t.qcow2 b0", "--add --foo @/t.qcow2 x", "--merge",
      "--add -f raw @/t.qcow2 x", "--clear -f raw @/t.qcow2 x", "--remove --remove @/t.qcow2 b0",
      "--add --image-opts driver=qcow2,file.filename=@/t.qcow2 x", "--add @/v2.qcow2 x",
  })
  void behavesLikeQemuImg(String arguments) {
    Path scratch = TestImages.scratch();
    Path target = scratch.resolve("t.qcow2");
    Path source = scratch.resolve("s.qcow2");
    Path v2 = scratch.resolve("v2.qcow2");
    Qemu.createQcow2(target, "16M");
    Qemu.createQcow2(source, "16M");
    Qemu.createQcow2(v2, "1M", "-o", "compat=0.10");
    Qemu.check("qemu-img", "bitmap", "--add", target.toString(), "b0");
    Qemu.check("qemu-img", "bitmap", "--add", source.toString(), "sb");
    Qemu.io(source, "qcow2", "write 1M 1k");
    Qemu.io(target, "qcow2", "write 3M 1k");
    SideBySide both = new SideBySide().copy(target, "t.qcow2").copy(source, "s.qcow2").copy(v2, "v2.qcow2");
    String[] words = ("bitmap " + arguments).split(" ");
    SideBySide.Runs runs = both.run("qemu-img", words);
    if (arguments.contains("-f raw") && arguments.contains("--add")) {
      // QEMU names its block node there ("#block167"), a number of its own
      assertThat(runs.ours().err().replaceAll("#block\\d+", "#block"))
          .isEqualTo(runs.theirs().err().replaceAll("#block\\d+", "#block"));
    } else if (arguments.contains("v2.qcow2")) {
      assertThat(runs.ours().err()).contains("Cannot store dirty bitmaps in qcow2 v2 files");
    } else {
      runs.same();
    }
    assertThat(runs.ours().exitCode()).isEqualTo(runs.theirs().exitCode());
    for (String image : new String[] {"t.qcow2", "s.qcow2"}) {
      assertThat(bitmaps(both.ours.resolve(image))).as(image).isEqualTo(bitmaps(both.theirs.resolve(image)));
      Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve(image).toString());
      assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
      for (String name : names(both.theirs.resolve(image))) {
        assertThat(map(both.ours.resolve(image), name)).as(image + " " + name)
            .isEqualTo(map(both.theirs.resolve(image), name));
      }
    }
  }

  private static String bitmaps(Path image) {
    String info = Qemu.check("qemu-img", "info", "--output=json", image.toString());
    int start = info.indexOf("\"bitmaps\"");
    return start < 0 ? "" : info.substring(start, info.indexOf(']', info.indexOf("\"granularity\"", start)));
  }

  private static java.util.List<String> names(Path image) {
    java.util.List<String> names = new java.util.ArrayList<>();
    java.util.regex.Matcher matcher = java.util.regex.Pattern.compile("\"name\": \"([^\"]*)\"")
        .matcher(Qemu.check("qemu-img", "info", "--output=json", image.toString()));
    while (matcher.find()) {
      names.add(matcher.group(1));
    }
    return names;
  }

  private static String map(Path image, String bitmap) {
    return Qemu.check("nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
        "-B", bitmap, image.toString(), "]");
  }
}
