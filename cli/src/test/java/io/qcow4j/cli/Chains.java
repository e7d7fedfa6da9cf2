package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Three-level backing chains (base <- mid <- top, relative names) made with qemu-img and qemu-io,
 * copied so that qemu-img and qcow4j can each change their own copy and the results be compared.
 */
final class Chains {
  private Chains() {}

  /** One chain recipe: how each layer is created and what is written into it. */
  record Recipe(String name, String baseFormat, String baseSize, String baseOptions, String[] baseWrites,
      String midSize, String midOptions, String[] midWrites, String topSize, String topOptions, String[] topWrites) {
    @Override
    public String toString() {
      return name;
    }

    String baseFile() {
      return "base." + baseFormat;
    }

    /** The layers' file names from the top down. */
    List<String> files() {
      return List.of("top.qcow2", "mid.qcow2", baseFile());
    }

    String formatOf(String file) {
      return file.endsWith(".raw") ? "raw" : "qcow2";
    }
  }

  /** The chains commit and rebase are compared on: sizes that differ, every kind of cluster. */
  static Stream<Recipe> recipes() {
    String[] baseData = {"write -P 1 0 4M", "write -P 9 3M 4k"};
    return Stream.of(
        new Recipe("plain", "qcow2", "4M", "", baseData,
            "4M", "", new String[] {"write -P 2 512k 1M", "write -z 2M 64k"},
            "4M", "", new String[] {"write -P 3 1M 1M", "write -z 3M 64k", "write -P 4 100k 3k"}),
        new Recipe("sizes-differ", "qcow2", "4M", "-o cluster_size=4k", baseData,
            "2M", "-o cluster_size=16k", new String[] {"write -P 2 0 1M", "write -z 1536k 64k"},
            "6M", "", new String[] {"write -P 3 5M 64k", "write -P 4 100k 3k", "write -z 700k 64k"}),
        new Recipe("raw-base", "raw", "4M", "", baseData,
            "4M", "-o cluster_size=512", new String[] {"write -P 2 1000k 7k", "discard 2M 64k"},
            "4M", "-o extended_l2=on,cluster_size=32k", new String[] {"write -P 3 5k 2k", "write -z 1M 40k",
                "write -P 5 3M 1M"}),
        new Recipe("compressed-v2", "qcow2", "3M", "-o compat=0.10", new String[] {"write -P 1 0 3M", "write -P 9 2M 4k"},
            "4M", "-o compat=0.10", new String[] {"write -P 2 0 256k", "write -z 256k 64k"},
            "4M", "-o compression_type=zstd", new String[] {"write -c -P 3 0 64k", "write -c -P 6 2M 64k",
                "write -P 7 2080k 1k"}));
  }

  /** Builds the chain of {@code recipe} in a new directory and returns it. */
  static Path build(Recipe recipe) {
    Path dir = TestImages.scratch();
    Path base = dir.resolve(recipe.baseFile());
    Qemu.check(command("qemu-img create -q -f " + recipe.baseFormat() + " " + recipe.baseOptions(), base.toString(),
        recipe.baseSize()));
    Qemu.io(base, recipe.baseFormat(), recipe.baseWrites());
    Qemu.check(command("qemu-img create -q -f qcow2 " + recipe.midOptions() + " -b " + recipe.baseFile() + " -F "
        + recipe.baseFormat(), dir.resolve("mid.qcow2").toString(), recipe.midSize()));
    Qemu.io(dir.resolve("mid.qcow2"), "qcow2", recipe.midWrites());
    Qemu.check(command("qemu-img create -q -f qcow2 " + recipe.topOptions() + " -b mid.qcow2 -F qcow2",
        dir.resolve("top.qcow2").toString(), recipe.topSize()));
    Qemu.io(dir.resolve("top.qcow2"), "qcow2", recipe.topWrites());
    return dir;
  }

  private static String[] command(String words, String... more) {
    return Stream.concat(Stream.of(words.trim().split("\\s+")), Stream.of(more)).toArray(String[]::new);
  }

  /** A copy of the directory {@code from} (its regular files), with the same holes (raw block status and qcow2 map see them). */
  static Path copy(Path from) {
    Path to = TestImages.scratch();
    try (Stream<Path> files = Files.list(from)) {
      for (Path file : files.toList()) {
        Qemu.check("cp", "--sparse=auto", file.toString(), to.resolve(file.getFileName()).toString());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return to;
  }

  /** Every layer of {@code ours} reads (with its chain) as the same layer of {@code theirs}, and checks clean. */
  static void assertSameLayers(Recipe recipe, Path ours, Path theirs) {
    for (String file : recipe.files()) {
      String format = recipe.formatOf(file);
      Cli.Result compare = Qemu.run("qemu-img", "compare", "-f", format, "-F", format,
          ours.resolve(file).toString(), theirs.resolve(file).toString());
      assertThat(compare.exitCode()).as("%s: %s %s", file, compare.out(), compare.err()).isZero();
      if (format.equals("qcow2")) {
        Qemu.check("qemu-img", "check", "-q", ours.resolve(file).toString());
      }
    }
  }
}
