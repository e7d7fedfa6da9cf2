/*
 * Rewrites the Java 5 classes of the runnable jar (picocli's) as Java 8 classes with stack maps;
 * bin/qcow4j runs it before the training run of the JVM's ahead-of-time cache (the Maven plugins
 * that could run it in the build are not at hand offline). That cache leaves out every class older than
 * Java 6 that was linked in the training run ("Old class has been linked"), so without this each
 * start loads, verifies with the old verifier and links picocli's 170 classes again, most of a
 * short command's start-up. The bytecode is unchanged; only the version and the stack maps are new.
 */

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassFileVersion;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.ClassModel;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

final class UpgradeOldClasses {
  private static final int JAVA_8 = 52;
  /** Classes before Java 6 (50) carry no stack maps and are verified by the old verifier. */
  private static final int JAVA_6 = 50;

  public static void main(String[] args) throws IOException {
    Path jar = Path.of(args[0]);
    Path upgraded = jar.resolveSibling(jar.getFileName() + ".upgrading");
    int classCount = 0;
    try (URLClassLoader jarClasses = new URLClassLoader(new URL[] {jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader())) {
      // stack maps need the common super class of two types, found in the JDK or in the jar itself
      ClassFile classFile = ClassFile.of(
          ClassFile.StackMapsOption.GENERATE_STACK_MAPS,
          ClassFile.ClassHierarchyResolverOption.of(ClassHierarchyResolver.defaultResolver()
              .orElse(ClassHierarchyResolver.ofResourceParsing(jarClasses))));
      ClassTransform newVersion = (builder, element) -> {
        if (element instanceof ClassFileVersion) {
          builder.withVersion(JAVA_8, 0);
        } else {
          builder.with(element);
        }
      };
      // passing every method body through the builder makes it compute their stack maps
      ClassTransform upgrade = newVersion.andThen(ClassTransform.transformingMethodBodies(CodeTransform.ACCEPT_ALL));
      try (ZipInputStream in = new ZipInputStream(Files.newInputStream(jar));
          ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(upgraded))) {
        for (ZipEntry entry; (entry = in.getNextEntry()) != null; ) {
          byte[] bytes = in.readAllBytes();
          if (entry.getName().endsWith(".class") && !entry.getName().endsWith("module-info.class")) {
            ClassModel model = classFile.parse(bytes);
            if (model.majorVersion() < JAVA_6) {
              bytes = classFile.transformClass(model, upgrade);
              classCount++;
            }
          }
          ZipEntry copy = new ZipEntry(entry.getName());
          copy.setTime(entry.getTime());
          out.putNextEntry(copy);
          out.write(bytes);
          out.closeEntry();
        }
      }
    }
    Files.move(upgraded, jar, StandardCopyOption.REPLACE_EXISTING);
    System.out.println("Rewrote " + classCount + " classes older than Java 6 in " + jar.getFileName() + " as Java 8 classes");
  }
}
