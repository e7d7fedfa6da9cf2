package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * serve -f FMT of each format qcow4j reads but does not write, against qemu-nbd -f FMT on the image
 * qemu-img made and qemu-io wrote (data, zeros, holes): nbdinfo --map of base:allocation and
 * qemu:allocation-depth the same, and nbdcopy the same bytes.
 */
class FormatServeTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"vpc|subformat=dynamic", "vpc|subformat=fixed", "vmdk|subformat=monolithicSparse",
      "vmdk|subformat=monolithicFlat", "vmdk|subformat=twoGbMaxExtentSparse", "vhdx|subformat=dynamic",
      "vhdx|subformat=fixed,block_size=1M", "vdi|static=off", "vdi|static=on", "qed|cluster_size=65536",
      "qed|cluster_size=4096", "qcow|encryption=off"})
  void servesAsQemuNbdServes(String format, String options) throws Exception {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("disk." + format);
    Qemu.check("qemu-img", "create", "-q", "-f", format, "-o", options, image.toString(), "16M");
    Qemu.io(image, format, "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 12M 64k", "write -P 0x22 15M 4k");
    String[] serve = {"-r", "-A", "-f", format, image.toString()};
    for (String what : new String[] {"--map", "--map=qemu:allocation-depth"}) {
      List<String> theirs = new ArrayList<>(List.of("nbdinfo", what, "--", "[", "qemu-nbd"));
      theirs.addAll(List.of(serve));
      theirs.add("]");
      String expected = Qemu.check(theirs.toArray(String[]::new));
      String actual = throughOurServer(scratch, serve, "nbdinfo", what);
      assertThat(actual).as(what).isEqualTo(expected);
    }
    Path theirCopy = scratch.resolve("theirs.raw");
    Path ourCopy = scratch.resolve("ours.raw");
    Qemu.check("nbdcopy", "--", "[", "qemu-nbd", "-r", "-f", format, image.toString(), "]", theirCopy.toString());
    throughOurServer(scratch, serve, "nbdcopy", null, ourCopy.toString());
    assertThat(Files.mismatch(theirCopy, ourCopy)).as("first differing byte").isEqualTo(-1);
  }

  /** Runs {@code tool} with its arguments ({@code before} the URI and {@code after} it) against qcow4j serve. */
  private static String throughOurServer(Path scratch, String[] serve, String tool, String before, String... after)
      throws Exception {
    Path socket = scratch.resolve("ours.sock");
    Files.deleteIfExists(socket);
    List<String> ours = new ArrayList<>(List.of("serve", "-k", socket.toString()));
    ours.addAll(List.of(serve));
    CompletableFuture<Cli.Result> server = CompletableFuture.supplyAsync(() -> Cli.run(ours.toArray(String[]::new)));
    for (int wait = 0; wait < 600 && !Files.exists(socket); wait++) {
      Thread.sleep(50);
    }
    List<String> client = new ArrayList<>(List.of(tool));
    if (before != null) {
      client.add(before);
    }
    client.add("nbd+unix:///?socket=" + socket);
    client.addAll(List.of(after));
    String output = Qemu.check(client.toArray(String[]::new));
    Cli.Result result = server.get(60, TimeUnit.SECONDS);
    assertThat(result.exitCode()).as(result.err()).isZero();
    return output;
  }
}
