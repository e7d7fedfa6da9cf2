package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * convert -O vmdk makes qemu-img 7.2's files byte for byte but for the random CID (and the file
 * names the descriptor holds): a streamOptimized image holds its grains in guest order (a grain
 * whose data ends before its end is written whole with its zeros, as qemu-img convert writes it)
 * and ends a grain past the last one (QEMU zeroes a new grain's whole cluster); the descriptor
 * file of the subformats with extent files is rewritten on the first write with a new CID in
 * whole sectors, as vmdk_write_cid does.
 */
class VmdkConvertBytesTest {
  @ParameterizedTest
  @ValueSource(strings = {"streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
      "monolithicSparse"})
  void convertMakesQemuImgsBytes(String subformat) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "100M");
    Qemu.io(source, "qcow2", "write -P 0x11 0 1M", "write -P 0x22 5M 100k", "write -z 8M 2M",
        "write -P 0x33 9M 4k", "write -P 0x44 20M 3M", "discard 21M 1M", "write -P 0x55 99M 1M");
    Path theirDir = Files.createDirectories(dir.resolve("theirs"));
    Path ourDir = Files.createDirectories(dir.resolve("ours"));
    Qemu.check("qemu-img", "convert", "-O", "vmdk", "-o", "subformat=" + subformat, source.toString(),
        theirDir.resolve("d.vmdk").toString());
    Cli.Result converted = Cli.run("convert", "-O", "vmdk", "-o", "subformat=" + subformat, source.toString(),
        ourDir.resolve("d.vmdk").toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    try (var files = Files.list(theirDir)) {
      for (Path theirs : files.toList()) {
        byte[] expected = withoutCid(Files.readAllBytes(theirs));
        byte[] ours = withoutCid(Files.readAllBytes(ourDir.resolve(theirs.getFileName())));
        assertThat(ours.length).as(theirs.getFileName() + " length").isEqualTo(expected.length);
        assertThat(java.util.Arrays.mismatch(ours, expected)).as(theirs.getFileName() + " first differing byte")
            .isEqualTo(-1);
      }
    }
    assertThat(Qemu.check("qemu-img", "compare", "-F", "vmdk", source.toString(),
        ourDir.resolve("d.vmdk").toString())).isEqualTo("Images are identical.\n");
  }

  /**
   * The bytes with the descriptor's CID value (random, of 1 to 8 hex digits) made "x", the NULs
   * after the descriptor's text made longer by what that took away, so that what follows keeps
   * its offset.
   */
  private static byte[] withoutCid(byte[] bytes) {
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    int at = text.indexOf("\nCID=");
    if (at < 0) {
      return bytes;
    }
    int end = text.indexOf('\n', at + 1);
    int nul = text.indexOf('\0', end);
    if (nul < 0) {
      nul = text.length();
    }
    String removed = text.substring(at + 5, end);
    String normalized = text.substring(0, at + 5) + "x" + text.substring(end, nul)
        + "\0".repeat(removed.length() - 1) + text.substring(nul);
    return normalized.getBytes(StandardCharsets.ISO_8859_1);
  }
}
