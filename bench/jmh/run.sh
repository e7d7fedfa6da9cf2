#!/usr/bin/env bash
# Builds the JMH benchmarks jar, runs the engine benchmarks with short settings (about 3 minutes:
# 7 benchmarks x 2 forks x 8 one-second iterations), and prints the 2-thread/1-thread ratios.
# Usage: bench/jmh/run.sh [more JMH options and benchmark regexps, e.g. AllocatedWrite]
# QCOW4J_JMH_SETTINGS replaces the run settings (default below); QCOW4J_BENCH_DIR is where the
# images go (default: the JVM's temporary directory, /tmp).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/bin/jdk.sh"
qcow4j_find_jdk
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
cd "$root"

log=$(mktemp)
if ! mvn -B -q -pl bench/jmh -am package -DskipTests >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "bench/jmh/run.sh: build failed" >&2
  exit 1
fi
rm -f "$log"

results="$root/bench/jmh/target/results.csv"
settings=${QCOW4J_JMH_SETTINGS:--f 2 -wi 3 -w 1s -i 5 -r 1s}
# shellcheck disable=SC2086 # the settings are words on purpose
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -jar bench/jmh/target/benchmarks.jar $settings -rf csv -rff "$results" "$@"

echo
echo "Scaling, from $results (ops/s):"
awk -F, '
  NR > 1 {
    gsub(/"/, "");
    count = split($1, parts, ".");
    name = parts[count - 1]; method = parts[count];
    score[name, method] = $5; names[name] = 1;
  }
  END {
    for (name in names) {
      one = score[name, "oneThread"];
      if (one == "") continue;
      if (score[name, "twoThreads"] != "")
        printf "  %-26s 2 threads / 1 thread:  %.2f  (%.0f / %.0f)\n", name, score[name, "twoThreads"] / one, score[name, "twoThreads"], one;
      if (score[name, "depth16"] != "")
        printf "  %-26s depth 16 / 1 thread:   %.2f  (%.0f / %.0f)\n", name, score[name, "depth16"] / one, score[name, "depth16"], one;
    }
  }' "$results" | sort
