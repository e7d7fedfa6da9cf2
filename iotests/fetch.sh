#!/usr/bin/env bash
# Prints the directory of QEMU's iotests (tests/qemu-iotests, with the python/ package beside it
# that the Python tests import) for the QEMU release of the installed qemu-utils, and fetches it
# first when it is not there: Debian's source package of that exact version, unpacked with its
# patches, of which only those two directories are kept.
#
# Usage: iotests/fetch.sh            cache: ${QCOW4J_IOTESTS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/qemu-iotests}
# Needs qemu-utils from Debian's archive, apt and dpkg-source (dpkg-dev), and root when it must add
# deb-src entries to apt's sources or install dpkg-dev. Exit status 2, with the reason on stderr,
# when the suite is missing and cannot be fetched.
set -euo pipefail

fail() {
  echo "iotests/fetch.sh: $*" >&2
  exit 2
}

cache=${QCOW4J_IOTESTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-iotests}
command -v dpkg-query >/dev/null || fail "not a Debian system (no dpkg-query): set QCOW4J_IOTESTS to a QEMU 7.2 tests/qemu-iotests"
version=$(dpkg-query -W -f='${source:Version}' qemu-utils 2>/dev/null) ||
  fail "qemu-utils is not installed (apt-get install qemu-utils)"
# the directory name: the version with the characters a path or the suite's checks dislike replaced
suite_root=$cache/$(printf '%s' "$version" | tr ':+~' '___')
suite=$suite_root/tests/qemu-iotests
if [ -f "$suite/check" ] && [ -f "$suite/common.rc" ]; then
  echo "$suite"
  exit 0
fi

echo "iotests/fetch.sh: fetching QEMU's iotests from Debian's source package qemu $version" >&2
root=no
[ "$(id -u)" = 0 ] && root=yes
if ! command -v dpkg-source >/dev/null; then
  [ $root = yes ] || fail "dpkg-source is missing and installing dpkg-dev needs root"
  apt-get install -y -q dpkg-dev >&2 || fail "could not install dpkg-dev"
fi

# apt needs deb-src entries to find a source package: add them beside the binary ones when absent
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  [ $root = yes ] || fail "apt has no deb-src entries and adding them needs root"
  added=/etc/apt/sources.list.d/qcow4j-iotests-src
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the same archives, suites and keys, for source packages
    sed -n -e '/^Types:/s/.*/Types: deb-src/p' -e '/^\(URIs\|Suites\|Components\|Signed-By\):/p' -e '/^$/p' \
      /etc/apt/sources.list.d/debian.sources >"$added.sources"
  elif [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$added.list"
  else
    fail "found neither /etc/apt/sources.list.d/debian.sources nor /etc/apt/sources.list to derive deb-src entries from"
  fi
  apt-get update -q >&2 || fail "apt-get update failed after adding deb-src entries"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  # --download-only: no build dependencies; a user without root can do this once the index is there
  apt-get source --download-only -q "qemu=$version" >&2
  dpkg-source --no-check -x qemu_*.dsc src >&2
) || {
  [ $root = yes ] || fail "apt-get source qemu=$version failed; as root it may need 'apt-get update' first"
  apt-get update -q >&2
  ( cd "$work" && rm -rf src ./*.dsc && apt-get source --download-only -q "qemu=$version" >&2 &&
      dpkg-source --no-check -x qemu_*.dsc src >&2 ) || fail "could not fetch the source package qemu=$version"
}
[ -f "$work/src/tests/qemu-iotests/check" ] || fail "the source package has no tests/qemu-iotests/check"
mkdir -p "$suite_root/tests.partial"
rm -rf "$suite_root/tests.partial/qemu-iotests" "$suite_root/python"
mv "$work/src/tests/qemu-iotests" "$suite_root/tests.partial/"
mv "$work/src/python" "$suite_root/"
# the suite appears whole or not at all
rm -rf "$suite_root/tests"
mv "$suite_root/tests.partial" "$suite_root/tests"
echo "$suite"
