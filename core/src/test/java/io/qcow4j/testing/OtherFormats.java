package io.qcow4j.testing;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Images of every format {@code qemu-img create} makes (and every subformat it offers), with the
 * format QEMU names when it probes them: a fixed VHD has its footer only at the end, so it probes as raw.
 */
public final class OtherFormats {
  private OtherFormats() {}

  /** One qemu-img create recipe: {@code format} with {@code options}, probed by QEMU as {@code probesAs}. */
  public record Recipe(String name, String format, List<String> options, String probesAs) {
    /**
     * Whether qcow4j reads images of this recipe (qcow2, raw, luks with the secret "probe", and
     * read-only vmdk, qcow, qed, vpc, vdi, vhdx); the others must be refused.
     */
    public boolean readable() {
      return List.of("qcow2", "raw", "luks", "vmdk", "qcow", "qed", "vpc", "vdi", "vhdx").contains(probesAs);
    }

    /** The image made by qemu-img in {@code directory} (with its extent files, for split VMDKs). */
    public Path create(Path directory) {
      Path image = directory.resolve(name + "." + format);
      List<Object> args = new ArrayList<>(List.of("create", "-q"));
      if (format.equals("luks")) {
        args.addAll(List.of("--object", "secret,id=sec0,data=probe"));
      }
      args.addAll(List.of("-f", format));
      args.addAll(options);
      args.add(image);
      args.add("1M");
      QemuTools.in(directory).img(args.toArray());
      return image;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** Every recipe, qcow2 and raw included. */
  public static List<Recipe> all() {
    List<Recipe> recipes = new ArrayList<>(List.of(
        new Recipe("qcow2", "qcow2", List.of(), "qcow2"),
        new Recipe("qcow2-v2", "qcow2", List.of("-o", "compat=0.10"), "qcow2"),
        new Recipe("raw", "raw", List.of(), "raw"),
        new Recipe("qcow", "qcow", List.of(), "qcow"),
        new Recipe("qed", "qed", List.of(), "qed"),
        new Recipe("vhdx", "vhdx", List.of(), "vhdx"),
        new Recipe("vpc-dynamic", "vpc", List.of("-o", "subformat=dynamic"), "vpc"),
        new Recipe("vpc-fixed", "vpc", List.of("-o", "subformat=fixed"), "raw"),
        new Recipe("vdi", "vdi", List.of(), "vdi"),
        new Recipe("vdi-static", "vdi", List.of("-o", "static=on"), "vdi"),
        new Recipe("luks", "luks", List.of("-o", "key-secret=sec0,iter-time=10"), "luks"),
        new Recipe("parallels", "parallels", List.of(), "parallels")));
    for (String subformat : List.of("monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
        "twoGbMaxExtentFlat", "streamOptimized")) {
      recipes.add(new Recipe("vmdk-" + subformat, "vmdk", List.of("-o", "subformat=" + subformat), "vmdk"));
    }
    return recipes;
  }

  /** The recipes of formats qcow4j does not read. */
  public static List<Recipe> unsupported() {
    return all().stream().filter(recipe -> !recipe.readable()).toList();
  }
}
