package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.source.doctree.DocCommentTree;
import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.MethodTree;
import com.sun.source.tree.ModifiersTree;
import com.sun.source.tree.Tree;
import com.sun.source.tree.VariableTree;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TreePath;
import com.sun.source.util.TreePathScanner;
import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.lang.model.element.Modifier;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * Every package core exports to everyone, every public type in it and every public or protected
 * member of such a type (enum constants too) carries a Javadoc comment; an override may inherit
 * its comment. The Javadoc build itself (doclint without the "missing" group, which would also ask
 * for every @param and @return) checks what the comments say; this test checks that they exist.
 */
class ApiDocTest {
  private static final Path SOURCES = Path.of("src/main/java");

  @Test
  void everyExportedMemberHasAComment() throws IOException, URISyntaxException {
    assertThat(SOURCES.resolve("module-info.java")).as("core's sources, from the module directory").exists();
    Path classes = Path.of(DiskImages.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    ModuleDescriptor descriptor = ModuleFinder.of(classes).find("io.qcow4j.core").orElseThrow().descriptor();
    List<Path> files = new ArrayList<>();
    for (ModuleDescriptor.Exports export : descriptor.exports()) {
      if (export.isQualified()) {
        continue;
      }
      try (Stream<Path> listing = Files.list(SOURCES.resolve(export.source().replace('.', '/')))) {
        listing.filter(file -> file.toString().endsWith(".java")).sorted().forEach(files::add);
      }
    }

    JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
    List<String> missing = new ArrayList<>();
    try (StandardJavaFileManager fileManager = compiler.getStandardFileManager(null, null, null)) {
      Iterable<? extends JavaFileObject> units = fileManager.getJavaFileObjectsFromPaths(files);
      JavacTask task = (JavacTask) compiler.getTask(null, fileManager, null, List.of("-proc:none"), null, units);
      DocTrees docs = DocTrees.instance(task);
      for (CompilationUnitTree unit : task.parse()) {
        new Scanner(docs, unit, missing).scan(new TreePath(unit), null);
      }
    }
    for (ModuleDescriptor.Exports export : descriptor.exports()) {
      if (!export.isQualified() && !Files.exists(SOURCES.resolve(export.source().replace('.', '/'))
          .resolve("package-info.java"))) {
        missing.add("package " + export.source() + " (no package-info.java)");
      }
    }
    assertThat(missing).as("exported API without a Javadoc comment").isEmpty();
  }

  /** Walks one file's public API, noting each element without a comment. */
  private static final class Scanner extends TreePathScanner<Void, Void> {
    private final DocTrees docs;
    private final CompilationUnitTree unit;
    private final List<String> missing;
    private final List<String> enclosing = new ArrayList<>();
    /** Whether the type being walked is an interface (its members are public unless private). */
    private final List<Boolean> inInterface = new ArrayList<>();

    Scanner(DocTrees docs, CompilationUnitTree unit, List<String> missing) {
      this.docs = docs;
      this.unit = unit;
      this.missing = missing;
    }

    @Override
    public Void visitCompilationUnit(CompilationUnitTree tree, Void unused) {
      if (unit.getSourceFile().getName().endsWith("package-info.java")) {
        if (unit.getPackage() != null && comment(new TreePath(getCurrentPath(), unit.getPackage())) == null) {
          missing.add("package " + unit.getPackageName());
        }
        return null;
      }
      return super.visitCompilationUnit(tree, unused);
    }

    @Override
    public Void visitClass(ClassTree tree, Void unused) {
      if (!isApi(tree.getModifiers())) {
        return null;
      }
      String name = (enclosing.isEmpty() ? unit.getPackageName() + "." : enclosing.getLast() + ".")
          + tree.getSimpleName();
      require(name);
      enclosing.add(name);
      inInterface.add(tree.getKind() == Tree.Kind.INTERFACE || tree.getKind() == Tree.Kind.ANNOTATION_TYPE);
      try {
        for (Tree member : tree.getMembers()) {
          scan(member, null);
        }
      } finally {
        enclosing.removeLast();
        inInterface.removeLast();
      }
      return null;
    }

    @Override
    public Void visitMethod(MethodTree tree, Void unused) {
      boolean override = tree.getModifiers().getAnnotations().stream()
          .anyMatch(annotation -> annotation.getAnnotationType().toString().equals("Override"));
      if (isApi(tree.getModifiers()) && !override) {
        String name = tree.getName().contentEquals("<init>") ? "constructor" : tree.getName().toString();
        require(enclosing.getLast() + "." + name + "(" + tree.getParameters().stream()
            .map(parameter -> parameter.getType().toString()).reduce((a, b) -> a + ", " + b).orElse("") + ")");
      }
      return null;
    }

    @Override
    public Void visitVariable(VariableTree tree, Void unused) {
      boolean enumConstant = tree.getModifiers().getFlags().isEmpty() && getCurrentPath().getParentPath().getLeaf()
          .getKind() == Tree.Kind.ENUM && tree.getInitializer() != null
          && tree.getInitializer().getKind() == Tree.Kind.NEW_CLASS;
      if (enumConstant || isApi(tree.getModifiers())) {
        require(enclosing.getLast() + "." + tree.getName());
      }
      return null;
    }

    private boolean isApi(ModifiersTree modifiers) {
      if (modifiers.getFlags().contains(Modifier.PRIVATE)) {
        return false;
      }
      boolean implicitlyPublic = !inInterface.isEmpty() && inInterface.getLast();
      return implicitlyPublic || modifiers.getFlags().contains(Modifier.PUBLIC)
          || modifiers.getFlags().contains(Modifier.PROTECTED);
    }

    private void require(String name) {
      if (comment(getCurrentPath()) == null) {
        missing.add(name);
      }
    }

    private DocCommentTree comment(TreePath path) {
      return docs.getDocCommentTree(path);
    }
  }
}
