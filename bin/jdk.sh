# Sourced by bin/qcow4j and bin/test: exports JAVA_HOME pointing at a JDK 25 or later.
qcow4j_java_version() {
  # the JDK's release file says it without starting a JVM
  if [ -f "$1/release" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
    return
  fi
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}
qcow4j_find_jdk() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    version=$(qcow4j_java_version "$candidate")
    if [ -n "$version" ] && [ "$version" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "qcow4j: no JDK 25 or later found (set JAVA_HOME or install one under /usr/lib/jvm)" >&2
  return 1
}
