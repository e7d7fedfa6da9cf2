package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow4j check against qemu-img check on the same images, clean and damaged on purpose: the lines
 * on stderr, the summary or JSON on stdout and the exit status; after our repair qemu-img finds
 * the image as clean as after its own, with the same content.
 */
class CheckCommandTest {
  /** Host offsets in the damaged images: 64 KiB clusters, refcount block in cluster 2, L2 table in cluster 4. */
  private static final long REFCOUNT_BLOCK = 2 << 16;
  private static final long L2_TABLE = 4 << 16;
  private static Path base;

  @ParameterizedTest
  @ValueSource(strings = {"default.qcow2", "v2.qcow2", "extl2.qcow2", "rc1.qcow2", "rc64-lazy.qcow2",
      "compressed-zstd.qcow2", "datafile-raw.qcow2", "top.qcow2", "dirty.qcow2", "sparse.raw"})
  void cleanImagesAreReportedLikeQemuImg(String name) {
    String image = TestImages.path(name).toString();
    for (String[] options : new String[][] {{}, {"--output=json"}, {"-q"}}) {
      String[] ours = new String[options.length + 2];
      ours[0] = "check";
      System.arraycopy(options, 0, ours, 1, options.length);
      ours[ours.length - 1] = image;
      String[] theirs = ours.clone();
      theirs[0] = "qemu-img";
      Cli.Result ourResult = Cli.run(ours);
      Cli.Result theirResult = Qemu.run(java.util.stream.Stream.concat(java.util.stream.Stream.of("qemu-img"),
          java.util.Arrays.stream(ours)).toArray(String[]::new));
      assertThat(ourResult.exitCode()).as(String.join(" ", ours)).isEqualTo(theirResult.exitCode());
      assertThat(ourResult.out()).as(String.join(" ", ours)).isEqualTo(theirResult.out());
      assertThat(ourResult.err()).isEqualTo(theirResult.err().replace("qemu-img: ", "qcow4j: "));
    }
  }

  /**
   * Damage (one patch of the image made by {@link #base}) and repair mode: the same lines, the same
   * status, then a clean image with the same content as qemu-img leaves.
   */
  @ParameterizedTest
  @CsvSource({
      "leak,", "leak,-r leaks", "leak,-r all",
      "low,", "low,-r all",
      "copied,", "copied,-r leaks", "copied,-r all",
      "pastend,", "pastend,-r leaks", "pastend,-r all",
      "noreftable,", "noreftable,-r leaks", "noreftable,-r all",
      "unalignedblock,", "unalignedblock,-r leaks", "reservedblock,", "reservedblock,-r leaks",
      "compressedcopied,", "compressedcopied,-r all", "l1pastend,", "reftablepastend,",
  })
  void damagedImagesAreFoundAndRepairedLikeQemuImg(String damage, String repair) {
    SideBySide both = new SideBySide().copy(damaged(damage), "image.qcow2");
    String[] args = repair == null ? new String[] {"check", "@/image.qcow2"}
        : new String[] {"check", repair.split(" ")[0], repair.split(" ")[1], "@/image.qcow2"};
    SideBySide.Runs human = both.run("qemu-img", args);
    // "low" with a repair: the refcount structures rebuilt, as QEMU's rebuild_refcount_structure does
    human.same();
    if (repair == null) {
      both.run("qemu-img", "check", "--output=json", "@/image.qcow2").same();
      return;
    }
    Cli.Result afterTheirs = Qemu.run("qemu-img", "check", both.theirs.resolve("image.qcow2").toString());
    Cli.Result afterOurs = Qemu.run("qemu-img", "check", both.ours.resolve("image.qcow2").toString());
    assertThat(afterOurs.exitCode()).as(afterOurs.err()).isEqualTo(afterTheirs.exitCode());
    if (afterTheirs.exitCode() != 0) {
      // not repaired (-r leaks of an image without a refcount table, which only a check opens): as qemu-img left it
      assertThat(both.ours.resolve("image.qcow2")).hasSameBinaryContentAs(both.theirs.resolve("image.qcow2"));
      return;
    }
    assertThat(Qemu.run("qemu-img", "compare", both.theirs.resolve("image.qcow2").toString(),
        both.ours.resolve("image.qcow2").toString()).out()).isEqualTo("Images are identical.\n");
  }

  /**
   * QEMU 7.2's check -r of an image with both a persistent bitmap and an internal snapshot drops
   * the snapshot (its check-mode open rewrites the header without it, then frees its tables as
   * leaks); ours finds the image clean and keeps both.
   */
  @org.junit.jupiter.api.Test
  void repairKeepsTheSnapshotsOfAnImageWithBitmaps() {
    Path image = TestImages.scratch().resolve("bitmap-snapshot.qcow2");
    Qemu.createQcow2(image, "64M");
    Qemu.check("qemu-img", "bitmap", "--add", image.toString(), "b0");
    Qemu.check("qemu-img", "snapshot", "-c", "s1", image.toString());
    Qemu.io(image, "qcow2", "write -P 1 0 1M");
    for (String mode : new String[] {"leaks", "all"}) {
      Cli.Result repair = Cli.run("check", "-r", mode, image.toString());
      assertThat(repair.exitCode()).as(repair.err()).isZero();
      assertThat(repair.out()).startsWith("No errors were found on the image.\n");
    }
    assertThat(Qemu.check("qemu-img", "snapshot", "-l", image.toString())).contains(" s1 ");
    assertThat(Qemu.check("qemu-img", "info", image.toString())).contains("name: b0");
    assertThat(Qemu.run("qemu-img", "check", image.toString()).exitCode()).isZero();
  }

  @ParameterizedTest
  @CsvSource({"leak,-r all", "copied,-r leaks"})
  void jsonAfterRepairLikeQemuImg(String damage, String repair) {
    SideBySide both = new SideBySide().copy(damaged(damage), "image.qcow2");
    both.run("qemu-img", "check", "--output=json", repair.split(" ")[0], repair.split(" ")[1], "@/image.qcow2").same();
  }

  @ParameterizedTest
  @ValueSource(strings = {"-r foo @/x.qcow2", "--output=xml @/x.qcow2", "@/x.qcow2 @/x.qcow2", "-f raw @/raw",
      "@/raw", "--output=json -f raw @/raw"})
  void refusalsLikeQemuImg(String arguments) {
    SideBySide both = new SideBySide().copy(TestImages.path("default.qcow2"), "x.qcow2").copy(TestImages.path("full.raw"), "raw");
    both.run("qemu-img", ("check " + arguments).split(" ")).same();
  }

  /**
   * A 1 MiB qcow2 image by qemu: data clusters 6 and 7 (guest 64k..192k), a compressed cluster
   * (guest 256k), cluster 5 freed by a discard, then one patch: "leak" gives cluster 5 a refcount,
   * "low" takes cluster 6's away,
   * "copied" clears a COPIED flag, "pastend" points an L2 entry far past the end of the file,
   * "noreftable" makes the refcount table zero clusters long (opened for a check only, as QEMU),
   * "unalignedblock" and "reservedblock" point the refcount table inside the block's cluster (the
   * check's refcount reads fail: a summary with internal errors, or -r leaks marks the image corrupt),
   * "compressedcopied" sets the COPIED flag of the compressed cluster at guest 256k, "l1pastend"
   * and "reftablepastend" move the L1 or refcount table past the end of the file.
   */
  private static synchronized Path damaged(String damage) {
    if (base == null) {
      base = TestImages.scratch().resolve("base.qcow2");
      Qemu.createQcow2(base, "1M");
      Qemu.io(base, "qcow2", "write -P 1 0 64k", "write -P 2 64k 64k", "write -P 3 128k 64k",
          "write -c -P 4 256k 64k", "discard 0 64k");
    }
    Path image = TestImages.scratch().resolve(damage + ".qcow2");
    try {
      java.nio.file.Files.copy(base, image);
      try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
        switch (damage) {
          case "leak" -> {
            file.seek(REFCOUNT_BLOCK + 5 * 2);
            file.writeShort(1);
          }
          case "low" -> {
            file.seek(REFCOUNT_BLOCK + 6 * 2);
            file.writeShort(0);
          }
          case "copied" -> {
            file.seek(L2_TABLE + 8);
            long entry = file.readLong();
            file.seek(L2_TABLE + 8);
            file.writeLong(entry & ~(1L << 63));
          }
          case "pastend" -> {
            file.seek(L2_TABLE + 3 * 8);
            file.writeLong((1L << 63) | 0x1000_0000L);
          }
          case "noreftable" -> {
            file.seek(56);
            file.writeInt(0);
          }
          case "l1pastend", "reftablepastend" -> {
            // the table's offset 256 MiB into a 1 MiB file: QEMU opens it for a check, reading zeros
            file.seek(damage.equals("l1pastend") ? 40 : 48);
            file.writeLong(256L << 20);
          }
          case "compressedcopied" -> {
            file.seek(L2_TABLE + 4 * 8);
            long entry = file.readLong();
            file.seek(L2_TABLE + 4 * 8);
            file.writeLong(entry | 1L << 63);
          }
          case "unalignedblock", "reservedblock" -> {
            // the refcount table (cluster 1) points 0x2a00 into the block's cluster; with reserved bits too
            file.seek(1 << 16);
            file.writeLong(REFCOUNT_BLOCK + (damage.equals("unalignedblock") ? 0x2a00 : 0x2b00));
          }
          default -> throw new IllegalArgumentException(damage);
        }
      }
      return image;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
