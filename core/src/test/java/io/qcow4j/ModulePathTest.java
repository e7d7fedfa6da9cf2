package io.qcow4j;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.QemuTools;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A library user on the module path: a program in its own module that requires only
 * {@code io.qcow4j.core} compiles and runs with no --add-modules (zstd-jni comes along), and with
 * {@code --enable-native-access} for the modules that make native calls (core; zstd-jni too once a
 * zstd cluster is read where the system's libzstd is not used) the JVM prints no warning.
 */
class ModulePathTest {
  private static final String PROGRAM = """
      package demo;

      import io.qcow4j.DiskImages;
      import io.qcow4j.disk.DiskFile;
      import io.qcow4j.disk.OpenOptions;
      import java.nio.ByteBuffer;
      import java.nio.file.Path;

      public final class Main {
        public static void main(String[] args) throws Exception {
          try (DiskFile disk = DiskImages.open(Path.of(args[0]), OpenOptions.readOnlyDefaults())) {
            ByteBuffer buffer = ByteBuffer.allocate((int) disk.size());
            disk.readFully(buffer, 0);
            long sum = 0;
            for (byte b : buffer.array()) {
              sum += b & 0xff;
            }
            System.out.println(disk.format().id() + " " + disk.size() + " " + sum);
          }
        }
      }
      """;

  @TempDir Path dir;
  private Path core;
  private Path zstd;
  private Path program;

  @BeforeEach
  void compileProgram() throws IOException, URISyntaxException {
    core = Path.of(DiskImages.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    zstd = Path.of(com.github.luben.zstd.Zstd.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path coreDescriptor = Files.isDirectory(core) ? core.resolve("module-info.class") : core;
    assertThat(coreDescriptor).as("core's module descriptor, compiled with the main classes").exists();

    Path sources = dir.resolve("src");
    Files.createDirectories(sources.resolve("demo"));
    Files.writeString(sources.resolve("module-info.java"), "module demo { requires io.qcow4j.core; }\n");
    Files.writeString(sources.resolve("demo/Main.java"), PROGRAM);
    program = dir.resolve("classes");
    ByteArrayOutputStream messages = new ByteArrayOutputStream();
    int status;
    try (PrintStream out = new PrintStream(messages, true, UTF_8)) {
      status = ToolProvider.getSystemJavaCompiler().run(null, out, out, "-d", program.toString(),
          "--module-path", modulePath(core, zstd), sources.resolve("module-info.java").toString(),
          sources.resolve("demo/Main.java").toString());
    }
    assertThat(messages.toString(UTF_8)).as("javac's messages").isEmpty();
    assertThat(status).as("javac's exit status").isZero();
  }

  @Test
  void opensAnImageWithoutWarningsWhenCoreMayCallNativeCode() throws Exception {
    Path image = dir.resolve("plain.qcow2");
    QemuTools.qemuImg("create", "-q", "-f", "qcow2", image, "1M");
    QemuTools.qemuIo("-c", "write -P 0x11 0 64k", image);

    Run quiet = run(image, "--enable-native-access=io.qcow4j.core");
    assertThat(quiet.stdout()).isEqualTo("qcow2 1048576 " + 0x11 * 65536L + "\n");
    assertThat(quiet.stderr()).as("what the JVM printed on stderr").isEmpty();
    assertThat(quiet.exitCode()).isZero();

    // Without the flag the JVM warns, naming the module: the flag is what keeps it quiet.
    Run warned = run(image);
    assertThat(warned.exitCode()).isZero();
    assertThat(warned.stderr()).contains("WARNING: A restricted method", "--enable-native-access=io.qcow4j.core");
  }

  @Test
  void readsZstdClustersThroughZstdJniOnTheModulePath() throws Exception {
    Path image = dir.resolve("zstd.qcow2");
    QemuTools.qemuImg("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd", image, "1M");
    QemuTools.qemuIo("-c", "write -c -P 0x22 0 64k", image);

    // the system's libzstd decompresses through core's own downcalls: core's flag is enough
    Run system = run(image, "--enable-native-access=io.qcow4j.core");
    assertThat(system.stdout()).isEqualTo("qcow2 1048576 " + 0x22 * 65536L + "\n");
    assertThat(system.stderr()).as("what the JVM printed on stderr").isEmpty();
    assertThat(system.exitCode()).isZero();

    // zstd-jni (where the system has no libzstd.so.1; forced here)
    Run quiet = run(image, "-Dqcow4j.zstd.jni=true", "--enable-native-access=io.qcow4j.core,com.github.luben.zstd_jni");
    assertThat(quiet.stdout()).isEqualTo("qcow2 1048576 " + 0x22 * 65536L + "\n");
    assertThat(quiet.stderr()).as("what the JVM printed on stderr").isEmpty();
    assertThat(quiet.exitCode()).isZero();

    // zstd-jni loads its library itself (JNI), so its module needs the flag as well.
    Run warned = run(image, "-Dqcow4j.zstd.jni=true", "--enable-native-access=io.qcow4j.core");
    assertThat(warned.exitCode()).isZero();
    assertThat(warned.stderr()).contains("--enable-native-access=com.github.luben.zstd_jni")
        .doesNotContain("--enable-native-access=io.qcow4j.core");
  }

  private record Run(int exitCode, String stdout, String stderr) {}

  private Run run(Path image, String... jvmOptions) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of(jvmOptions));
    command.addAll(List.of("--module-path", modulePath(program, core, zstd), "-m", "demo/demo.Main", image.toString()));
    Path stdout = dir.resolve("stdout");
    Path stderr = dir.resolve("stderr");
    Process process = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError(String.join(" ", command) + " did not finish in 60 s");
    }
    return new Run(process.exitValue(), Files.readString(stdout), Files.readString(stderr));
  }

  private static String modulePath(Path... entries) {
    return String.join(java.io.File.pathSeparator, java.util.Arrays.stream(entries).map(Path::toString).toList());
  }
}
