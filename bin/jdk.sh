# Sourced by bin/qcow4j and bin/test: exports JAVA_HOME pointing at a JDK 25 or later.

# Sets qcow4j_jdk_version to the feature version of the JDK at $1, empty when unknown. The
# release file says it without starting a JVM, read by the shell itself: no process, no subshell
# (bin/qcow4j runs this on every start).
qcow4j_read_jdk_version() {
  qcow4j_jdk_version=
  local line
  if [ -f "$1/release" ]; then
    while IFS= read -r line; do
      case $line in
        JAVA_VERSION=*)
          line=${line#JAVA_VERSION=\"}
          qcow4j_jdk_version=${line%%[!0-9]*}
          return ;;
      esac
    done <"$1/release"
  else
    qcow4j_jdk_version=$("$1/bin/java" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
  fi
}
qcow4j_find_jdk() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    qcow4j_read_jdk_version "$candidate"
    if [ -n "$qcow4j_jdk_version" ] && [ "$qcow4j_jdk_version" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "qcow4j: no JDK 25 or later found (set JAVA_HOME or install one under /usr/lib/jvm)" >&2
  return 1
}
