package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The public API of core changes only on purpose: its module descriptor (requires, exports) and
 * every public type of an exported package with its public and protected members are listed in
 * {@value #LISTING}, and any difference fails with what appeared and what disappeared. After a
 * deliberate change, regenerate the listing with {@code mvn -pl core test -Dtest=ApiShapeTest
 * -Dqcow4j.api.update=true} and commit it with the change. The same walk checks that no exported
 * signature shows a core type the module does not export, and that every public class is final,
 * sealed, a record or an enum.
 */
class ApiShapeTest {
  private static final String MODULE = "io.qcow4j.core";
  private static final String LISTING = "src/test/resources/io/qcow4j/api.txt";
  private static final int SHOWN = Modifier.PUBLIC | Modifier.PROTECTED | Modifier.STATIC | Modifier.FINAL
      | Modifier.ABSTRACT;

  @Test
  void apiMatchesTheCheckedInListing() throws IOException, URISyntaxException {
    List<String> current = Api.read().listing();
    Path listing = Path.of(LISTING);
    if (Boolean.getBoolean("qcow4j.api.update")) {
      Files.write(listing, current);
    }
    List<String> expected = Files.exists(listing) ? Files.readAllLines(listing) : List.of();
    Set<String> appeared = new LinkedHashSet<>(current);
    expected.forEach(appeared::remove);
    Set<String> disappeared = new LinkedHashSet<>(expected);
    current.forEach(disappeared::remove);
    assertThat(describe(appeared, disappeared))
        .as("the public API differs from %s; if the change is meant, rerun with -Dqcow4j.api.update=true and "
            + "commit the listing", LISTING)
        .isEmpty();
    assertThat(current).as("the listing's order").containsExactlyElementsOf(expected);
  }

  @Test
  void exportedSignaturesShowOnlyExportedTypes() throws IOException, URISyntaxException {
    Api api = Api.read();
    List<String> leaks = new ArrayList<>();
    for (Class<?> type : api.types()) {
      for (Member member : members(type)) {
        for (Class<?> shown : member.shownTypes()) {
          String packageName = shown.getPackageName();
          if (packageName.startsWith("io.qcow4j") && !api.exported().contains(packageName)) {
            leaks.add(type.getName() + " " + member.text() + ": " + shown.getName());
          }
        }
      }
    }
    assertThat(leaks).as("exported members that show types of packages core does not export").isEmpty();
  }

  @Test
  void publicClassesAreFinalSealedRecordsOrEnums() throws IOException, URISyntaxException {
    List<String> open = Api.read().types().stream()
        .filter(type -> !type.isInterface() && !type.isEnum() && !type.isRecord())
        .filter(type -> !Modifier.isFinal(type.getModifiers()) && !type.isSealed())
        .map(Class::getName)
        .toList();
    assertThat(open).as("public classes open to subclassing").isEmpty();
  }

  private static String describe(Set<String> appeared, Set<String> disappeared) {
    StringBuilder text = new StringBuilder();
    appeared.forEach(line -> text.append("\n+ ").append(line));
    disappeared.forEach(line -> text.append("\n- ").append(line));
    return text.toString();
  }

  /** Core's module descriptor and the public types of the packages it exports to everyone. */
  private record Api(ModuleDescriptor descriptor, Set<String> exported, List<Class<?>> types) {
    static Api read() throws IOException, URISyntaxException {
      Path classes = Path.of(DiskImages.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      ModuleDescriptor descriptor = ModuleFinder.of(classes).find(MODULE)
          .orElseThrow(() -> new AssertionError("no module " + MODULE + " in " + classes))
          .descriptor();
      Set<String> exported = descriptor.exports().stream()
          .filter(export -> !export.isQualified())
          .map(ModuleDescriptor.Exports::source)
          .collect(Collectors.toCollection(TreeSet::new));
      List<Class<?>> types = new ArrayList<>();
      for (String packageName : exported) {
        Path directory = classes.resolve(packageName.replace('.', '/'));
        try (Stream<Path> files = Files.list(directory)) {
          for (Path file : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
            String simpleName = file.getFileName().toString().replaceFirst("\\.class$", "");
            if (simpleName.equals("package-info")) {
              continue;
            }
            Class<?> type = load(packageName + "." + simpleName);
            if (isPublicApi(type)) {
              types.add(type);
            }
          }
        }
      }
      types.sort(Comparator.comparing(Class::getName));
      return new Api(descriptor, exported, types);
    }

    /** The listing: the descriptor, then each type's declaration followed by its members, indented. */
    List<String> listing() {
      List<String> lines = new ArrayList<>();
      lines.add("module " + descriptor.name());
      descriptor.requires().stream()
          .filter(requires -> !requires.name().equals("java.base"))
          .map(requires -> "requires " + modifiers(requires.modifiers()) + requires.name())
          .sorted()
          .forEach(lines::add);
      descriptor.exports().stream()
          .map(export -> "exports " + export.source() + (export.isQualified() ? " to " + String.join(", ",
              new TreeSet<>(export.targets())) : ""))
          .sorted()
          .forEach(lines::add);
      descriptor.opens().stream().map(opens -> "opens " + opens.source()).sorted().forEach(lines::add);
      for (Class<?> type : types) {
        lines.add(declaration(type));
        members(type).stream().map(member -> "  " + member.text()).sorted().distinct().forEach(lines::add);
      }
      return lines;
    }

    private static String modifiers(Set<ModuleDescriptor.Requires.Modifier> modifiers) {
      return modifiers.stream()
          .filter(modifier -> modifier != ModuleDescriptor.Requires.Modifier.MANDATED)
          .map(modifier -> modifier.name().toLowerCase() + " ")
          .sorted()
          .collect(Collectors.joining());
    }
  }

  private static Class<?> load(String name) {
    try {
      return Class.forName(name, false, ApiShapeTest.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new AssertionError(name, e);
    }
  }

  /** Public, and so are all the types it is nested in; not anonymous, local or synthetic. */
  private static boolean isPublicApi(Class<?> type) {
    if (type.isAnonymousClass() || type.isLocalClass() || type.isSynthetic()) {
      return false;
    }
    for (Class<?> level = type; level != null; level = level.getDeclaringClass()) {
      if (!Modifier.isPublic(level.getModifiers())) {
        return false;
      }
    }
    return true;
  }

  private static String declaration(Class<?> type) {
    String kind = type.isAnnotation() ? "@interface" : type.isInterface() ? "interface" : type.isEnum() ? "enum"
        : type.isRecord() ? "record" : "class";
    int modifiers = type.getModifiers() & SHOWN;
    if (type.isInterface() || type.isEnum() || type.isRecord()) {
      // implied by the kind
      modifiers &= ~(Modifier.ABSTRACT | Modifier.FINAL | Modifier.STATIC);
    }
    StringBuilder text = new StringBuilder(Modifier.toString(modifiers));
    if (type.isSealed()) {
      text.append(" sealed");
    }
    text.append(' ').append(kind).append(' ').append(type.getName()).append(typeParameters(type.getTypeParameters()));
    Type superclass = type.getGenericSuperclass();
    if (superclass != null && superclass != Object.class && !type.isEnum() && !type.isRecord()) {
      text.append(" extends ").append(superclass.getTypeName());
    }
    Type[] interfaces = type.getGenericInterfaces();
    if (interfaces.length > 0) {
      text.append(type.isInterface() ? " extends " : " implements ")
          .append(Arrays.stream(interfaces).map(Type::getTypeName).collect(Collectors.joining(", ")));
    }
    if (type.isSealed()) {
      text.append(" permits ").append(Arrays.stream(type.getPermittedSubclasses()).map(Class::getName).sorted()
          .collect(Collectors.joining(", ")));
    }
    return text.toString();
  }

  /** One public or protected member as the listing shows it, with the types its signature shows. */
  private record Member(String text, Set<Class<?>> shownTypes) {}

  private static List<Member> members(Class<?> type) {
    List<Member> members = new ArrayList<>();
    for (Field field : type.getDeclaredFields()) {
      if (visible(field.getModifiers()) && !field.isSynthetic()) {
        String kind = field.isEnumConstant() ? "constant " : "";
        members.add(new Member(kind + Modifier.toString(field.getModifiers() & SHOWN) + " "
            + field.getGenericType().getTypeName() + " " + field.getName(), shown(field.getGenericType())));
      }
    }
    for (Constructor<?> constructor : type.getDeclaredConstructors()) {
      if (visible(constructor.getModifiers()) && !constructor.isSynthetic()) {
        members.add(executable(constructor, Modifier.toString(constructor.getModifiers() & SHOWN), type.getName(),
            null));
      }
    }
    for (Method method : type.getDeclaredMethods()) {
      if (visible(method.getModifiers()) && !method.isSynthetic() && !method.isBridge()) {
        String modifiers = Modifier.toString(method.getModifiers() & SHOWN) + (method.isDefault() ? " default" : "");
        members.add(executable(method, modifiers, method.getName(), method.getGenericReturnType()));
      }
    }
    return members;
  }

  private static boolean visible(int modifiers) {
    return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
  }

  private static Member executable(Executable executable, String modifiers, String name, Type returnType) {
    Set<Class<?>> shown = new LinkedHashSet<>();
    StringBuilder text = new StringBuilder(modifiers).append(' ');
    String typeParameters = typeParameters(executable.getTypeParameters());
    if (!typeParameters.isEmpty()) {
      text.append(typeParameters.substring(1)).append(' ');
    }
    for (TypeVariable<?> variable : executable.getTypeParameters()) {
      for (Type bound : variable.getBounds()) {
        shown.addAll(shown(bound));
      }
    }
    if (returnType != null) {
      text.append(returnType.getTypeName()).append(' ');
      shown.addAll(shown(returnType));
    }
    text.append(name).append('(');
    Type[] parameters = executable.getGenericParameterTypes();
    text.append(Arrays.stream(parameters).map(Type::getTypeName).collect(Collectors.joining(", "))).append(')');
    Arrays.stream(parameters).forEach(parameter -> shown.addAll(shown(parameter)));
    Type[] exceptions = executable.getGenericExceptionTypes();
    if (exceptions.length > 0) {
      text.append(" throws ").append(Arrays.stream(exceptions).map(Type::getTypeName).collect(Collectors.joining(", ")));
      Arrays.stream(exceptions).forEach(exception -> shown.addAll(shown(exception)));
    }
    return new Member(text.toString().strip(), shown);
  }

  private static String typeParameters(TypeVariable<?>[] variables) {
    if (variables.length == 0) {
      return "";
    }
    return Arrays.stream(variables).map(variable -> {
      List<String> bounds = Arrays.stream(variable.getBounds()).filter(bound -> bound != Object.class)
          .map(Type::getTypeName).toList();
      return bounds.isEmpty() ? variable.getName() : variable.getName() + " extends " + String.join(" & ", bounds);
    }).collect(Collectors.joining(", ", "<", ">"));
  }

  /** The classes a type mentions: itself, its type arguments, bounds and array components. */
  private static Set<Class<?>> shown(Type type) {
    Set<Class<?>> classes = new LinkedHashSet<>();
    switch (type) {
      case Class<?> plain -> {
        Class<?> element = plain;
        while (element.isArray()) {
          element = element.getComponentType();
        }
        if (!element.isPrimitive()) {
          classes.add(element);
        }
      }
      case ParameterizedType parameterized -> {
        classes.addAll(shown(parameterized.getRawType()));
        for (Type argument : parameterized.getActualTypeArguments()) {
          classes.addAll(shown(argument));
        }
      }
      case GenericArrayType array -> classes.addAll(shown(array.getGenericComponentType()));
      case WildcardType wildcard -> {
        Stream.of(wildcard.getUpperBounds()).forEach(bound -> classes.addAll(shown(bound)));
        Stream.of(wildcard.getLowerBounds()).forEach(bound -> classes.addAll(shown(bound)));
      }
      default -> { }
    }
    return classes;
  }
}
