package io.qcow4j.interop;

import io.qcow4j.interop.InteropImages.Recipe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

/** Every image qemu-img and qemu-io make reads, maps and describes itself through our engine as through QEMU. */
class QemuInteropTest {
  @TempDir static Path workDirectory;

  /** Images are made once per run and shared by the three comparisons. */
  private static final Map<String, Path> BUILT = new ConcurrentHashMap<>();

  static List<Recipe> recipes() {
    return InteropImages.all();
  }

  private static Path image(Recipe recipe) {
    return BUILT.computeIfAbsent(recipe.name(), name -> recipe.build(workDirectory.resolve(name)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void readsTheBytesQemuReads(Recipe recipe) throws IOException {
    Path image = image(recipe);
    QemuComparison.assertSameBytes(image, image.getParent());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void mapsLikeQemu(Recipe recipe) throws IOException {
    QemuComparison.assertSameMap(image(recipe));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void reportsWhatQemuImgInfoReports(Recipe recipe) throws IOException {
    QemuComparison.assertSameInfo(image(recipe));
  }
}
