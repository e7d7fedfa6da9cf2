#!/usr/bin/env bash
# Measures zstd-jni against aircompressor's pure-Java zstd on 64 KiB clusters (how qcow4j's codec was chosen).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/bin/jdk.sh"
qcow4j_find_jdk
mvn -q dependency:get -Dartifact=com.github.luben:zstd-jni:1.5.7-28 >/dev/null
mvn -q dependency:get -Dartifact=io.airlift:aircompressor:2.0.2 >/dev/null
repo="$HOME/.m2/repository"
cp="$repo/com/github/luben/zstd-jni/1.5.7-28/zstd-jni-1.5.7-28.jar:$repo/io/airlift/aircompressor/2.0.2/aircompressor-2.0.2.jar"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" "$root/bench/zstd-codecs/ZstdCodecs.java"
