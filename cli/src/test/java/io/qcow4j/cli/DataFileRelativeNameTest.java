package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An external data file named without a directory, side by side with qemu-img and qemu-io (iotest
 * 061): QEMU 7.2 creates, opens and records the name as it stands, relative to the working
 * directory of the process and not to the image; qemu-img info does not open it (it reports an
 * image whose data file is missing), while check and qemu-io fail naming it.
 */
class DataFileRelativeNameTest {
  /** Relative to the test's working directory, as the data file names are; one per tool. */
  private final Path theirsRelative = Path.of("target", "datafile-" + System.nanoTime() + "-theirs");
  private final Path oursRelative = Path.of("target", "datafile-" + System.nanoTime() + "-ours");
  private final Path theirsImages = TestImages.scratch();
  private final Path oursImages = TestImages.scratch();

  @AfterEach
  void deleteRelativeDirectories() throws IOException {
    for (Path dir : List.of(theirsRelative, oursRelative)) {
      if (Files.isDirectory(dir)) {
        try (var files = Files.list(dir)) {
          for (Path file : files.toList()) {
            Files.delete(file);
          }
        }
        Files.delete(dir);
      }
    }
  }

  @Test
  void relativeDataFileNamesAreRelativeToTheWorkingDirectoryAsInQemu() throws IOException {
    Files.createDirectories(theirsRelative);
    Files.createDirectories(oursRelative);
    same("qemu-img", "create", "-f", "qcow2", "-o", "data_file=REL/x.data", "IMG/t.qcow2", "1M");
    assertThat(theirsRelative.resolve("x.data")).as("qemu-img's data file, relative to the working directory").exists();
    assertThat(oursRelative.resolve("x.data")).as("our data file, relative to the working directory").exists();
    assertThat(oursImages.resolve(oursRelative)).doesNotExist();

    same("qemu-io", "-c", "write -P 0x5a 0 4k", "IMG/t.qcow2");
    same("qemu-io", "-c", "read -P 0x5a 0 4k", "IMG/t.qcow2");
    assertThat(Files.readAllBytes(oursRelative.resolve("x.data"))[0]).isEqualTo((byte) 0x5a);

    // the data file gone: info still describes the image, the others name the file they miss
    Files.move(theirsRelative.resolve("x.data"), theirsRelative.resolve("moved.data"));
    Files.move(oursRelative.resolve("x.data"), oursRelative.resolve("moved.data"));
    sameButDiskSize("qemu-img", "info", "IMG/t.qcow2");
    sameButDiskSize("qemu-img", "info", "--output=json", "IMG/t.qcow2");
    sameButDiskSize("qemu-img", "info", "--image-opts", "driver=qcow2,file.filename=IMG/t.qcow2,data-file.filename=REL/none");
    Result missing = same("qemu-io", "-c", "read 0 4k", "IMG/t.qcow2");
    assertThat(missing.err()).contains("Could not open 'REL/x.data': No such file or directory");
    same("qemu-img", "check", "IMG/t.qcow2");

    // amend records another name as it stands, looked for in the working directory too
    Files.move(theirsRelative.resolve("moved.data"), theirsRelative.resolve("x.data"));
    Files.move(oursRelative.resolve("moved.data"), oursRelative.resolve("x.data"));
    same("qemu-img", "amend", "-o", "data_file=REL/other.data", "IMG/t.qcow2");
    assertThat(same("qemu-io", "-c", "read 0 4k", "IMG/t.qcow2").err()).contains("Could not open 'REL/other.data'");
    Files.move(theirsRelative.resolve("x.data"), theirsRelative.resolve("other.data"));
    Files.move(oursRelative.resolve("x.data"), oursRelative.resolve("other.data"));
    same("qemu-io", "-c", "read -P 0x5a 0 4k", "IMG/t.qcow2");
  }

  private record Result(int exitCode, String out, String err) {}

  private Result same(String tool, String... args) {
    Result[] both = both(tool, args);
    assertThat(both[1]).as(String.join(" ", args)).isEqualTo(both[0]);
    return both[1];
  }

  private void sameButDiskSize(String tool, String... args) {
    Result[] both = both(tool, args);
    assertThat(both[1].exitCode()).as(String.join(" ", args)).isZero().isEqualTo(both[0].exitCode());
    assertThat(both[1].err()).isEqualTo(both[0].err());
    assertThat(withoutDiskSize(both[1].out())).isEqualTo(withoutDiskSize(both[0].out()));
  }

  private static String withoutDiskSize(String out) {
    return out.replaceAll("(?m)^disk size: .*$", "").replaceAll("(?m)^ *\"actual-size\": .*$", "");
  }

  private Result[] both(String tool, String... args) {
    List<String> qemu = new ArrayList<>(List.of(tool));
    List<String> qcow4j = new ArrayList<>();
    if (tool.equals("qemu-io")) {
      qcow4j.add("io");
    }
    for (String arg : args) {
      qemu.add(arg.replace("REL/", theirsRelative + "/").replace("IMG/", theirsImages + "/"));
      qcow4j.add(arg.replace("REL/", oursRelative + "/").replace("IMG/", oursImages + "/"));
    }
    Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ours = Cli.run(qcow4j.toArray(String[]::new));
    return new Result[] {normalize(theirs, theirsRelative, theirsImages), normalize(ours, oursRelative, oursImages)};
  }

  private static Result normalize(Cli.Result result, Path relative, Path images) {
    return new Result(result.exitCode(), normalize(result.out(), relative, images),
        normalize(result.err(), relative, images).replaceAll("(?m)^(qemu-img|qemu-io|qcow4j): ", "TOOL: "));
  }

  private static String normalize(String text, Path relative, Path images) {
    return text.replace(images + "/", "IMG/").replace(relative + "/", "REL/")
        .replaceAll("(?m)^(\\S+ \\S+, \\d+ ops; ).*$", "$1<time>");
  }
}
