package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.BochsImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bochs images (read-only, built from the format's description since qemu-img cannot create
 * them): info, map, convert and compare side by side with qemu-img, hostile headers refused with
 * qemu-img's words, and create and convert to bochs refused as qemu-img refuses them.
 */
class BochsCommandsTest {
  private static BochsImages sample() {
    return new BochsImages(40 * 4096 + 3 * 512, 4096)
        .write(0, 8, 1)
        .write(8 * 3 + 2, 3, 2)
        .write(8 * 39 + 7, 1, 3)
        .write(8 * 40, 3, 4)
        .garbageBehindClearBits(8 * 3, 2);
  }

  private static SideBySide withImage(BochsImages image) throws IOException {
    Path source = TestImages.scratch().resolve("source.bochs");
    Files.write(source, image.bytes());
    return new SideBySide().copy(source, "t.bochs");
  }

  @ParameterizedTest
  @ValueSource(strings = {"human", "json"})
  void infoAndMapPrintWhatQemuImgPrints(String output) throws IOException {
    SideBySide runs = withImage(sample());
    runs.run("qemu-img", "info", "--output=" + output, "@/t.bochs").same();
    runs.run("qemu-img", "info", "-f", "bochs", "--output=" + output, "@/t.bochs").same();
    runs.run("qemu-img", "map", "--output=" + output, "@/t.bochs").same();
  }

  @Test
  void convertReadsTheBytesQemuImgReads() throws IOException {
    BochsImages image = sample();
    SideBySide runs = withImage(image);
    runs.run("qemu-img", "convert", "-O", "raw", "@/t.bochs", "@/t.raw").same();
    byte[] ours = Files.readAllBytes(runs.ours.resolve("t.raw"));
    assertThat(ours).isEqualTo(Files.readAllBytes(runs.theirs.resolve("t.raw")));
    assertThat(ours).isEqualTo(image.expected());
    runs.run("qemu-img", "compare", "-f", "bochs", "-F", "raw", "@/t.bochs", "@/t.raw").same();
  }

  @Test
  void createAndConvertToBochsAreRefusedAsQemuImgRefusesThem() throws IOException {
    SideBySide runs = withImage(sample());
    runs.run("qemu-img", "create", "-f", "bochs", "@/new.bochs", "1M").same();
    runs.run("qemu-img", "convert", "-f", "bochs", "-O", "bochs", "@/t.bochs", "@/copy.bochs").same();
  }

  private static void refusedLikeQemuImg(Consumer<BochsImages> change) throws IOException {
    BochsImages image = sample();
    change.accept(image);
    SideBySide runs = withImage(image);
    SideBySide.Runs info = runs.run("qemu-img", "info", "-f", "bochs", "@/t.bochs").same();
    assertThat(info.theirs().exitCode()).isNotZero();
  }

  @Test
  void hostileHeadersAreRefusedWithQemuImgsWords() throws IOException {
    refusedLikeQemuImg(image -> image.subtype = "Undoable");
    refusedLikeQemuImg(image -> image.version = 0x00030000);
    refusedLikeQemuImg(image -> image.catalogEntries = 0x100001);
    refusedLikeQemuImg(image -> image.extentSize = 256);
    refusedLikeQemuImg(image -> image.extentSize = 1536);
    refusedLikeQemuImg(image -> image.extentSize = 16 << 20);
    refusedLikeQemuImg(image -> image.catalogEntries = 2);
  }
}
