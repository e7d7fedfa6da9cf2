#!/usr/bin/env bash
# Runs the same workloads against qcow4j and against QEMU's own tools on the same image, and prints
# ours, qemu's and the ratio (ours / qemu: above 1 is faster for rates, so higher is better).
#
# Usage: bench/compare-qemu.sh [SECTION...]        sections: nbd (default: all)
# Environment: QCOW4J_BENCH_SIZE (image size, default 512M), QCOW4J_BENCH_SECONDS (per fio run,
#   default 10), QCOW4J_BENCH_FORMAT (raw or qcow2, default raw), QCOW4J_BENCH_DIR (scratch
#   directory, default a new temporary one, removed at the end).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
size=${QCOW4J_BENCH_SIZE:-512M}
seconds=${QCOW4J_BENCH_SECONDS:-10}
format=${QCOW4J_BENCH_FORMAT:-raw}

for tool in qemu-img qemu-nbd fio nbdcopy awk; do
  command -v "$tool" >/dev/null || { echo "compare-qemu: $tool is not installed" >&2; exit 1; }
done
if [ -n "${QCOW4J_BENCH_DIR:-}" ]; then
  work=$QCOW4J_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'stop_server; rm -rf "$work"' EXIT
fi

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # Bounded wait: the servers flush and exit on SIGTERM.
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

wait_for_socket() {
  for _ in $(seq 300); do
    [ -S "$1" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "compare-qemu: server exited before listening" >&2; exit 1; }
    sleep 0.1
  done
  echo "compare-qemu: no socket at $1 after 30 s" >&2
  exit 1
}

row() { # name unit ours qemu
  awk -v name="$1" -v unit="$2" -v ours="$3" -v qemu="$4" 'BEGIN {
    ratio = qemu > 0 ? sprintf("%.2f", ours / qemu) : "n/a";
    printf "%-34s %14.1f %14.1f %8s  %s\n", name, ours, qemu, ratio, unit }'
}

header() {
  printf '\n== %s\n%-34s %14s %14s %8s\n' "$1" "workload" "qcow4j" "qemu" "ratio"
}

# ---- nbd: our NBD server (bin/qcow4j serve) against qemu-nbd ---------------------------------------

make_image() { # path: an image full of data, so that reads hit the disk rather than holes
  local path=$1
  rm -f "$path"
  qemu-img create -q -f raw "$path.data" "$size"
  # Random data in large blocks: what a used disk looks like to a reader.
  local bytes
  bytes=$(stat -c %s "$path.data")
  dd if=/dev/urandom of="$path.data" bs=4M count=$((bytes / (4 << 20))) conv=notrunc status=none
  if [ "$format" = raw ]; then
    mv "$path.data" "$path"
  else
    qemu-img convert -q -f raw -O "$format" "$path.data" "$path"
    rm -f "$path.data"
  fi
}

start_ours() { # socket image
  "$root/bin/qcow4j" serve -t -e 4 -f "$format" -k "$1" "$2" &
  server_pid=$!
  wait_for_socket "$1"
}

start_qemu() { # socket image
  qemu-nbd -t -e 4 -f "$format" -k "$1" "$2" &
  server_pid=$!
  wait_for_socket "$1"
}

fio_iops() { # uri rw: prints the IOPS of a 4 KiB random run at queue depth 16
  local field=8
  [ "$2" = randwrite ] && field=49
  fio --name=nbd --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth=16 --size="$size" \
      --runtime="$seconds" --time_based --output-format=terse 2>/dev/null |
    awk -F';' -v field="$field" 'NF > 50 { print $field; exit }'
}

nbdcopy_mibs() { # source destination: prints the MiB/s of the best of three nbdcopy runs
  local start end best=0 rate
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    nbdcopy "$1" "$2"
    end=$(date +%s.%N)
    rate=$(awk -v bytes="$image_bytes" -v start="$start" -v end="$end" 'BEGIN { printf "%.1f", bytes / 1048576 / (end - start) }')
    best=$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "$best"
}

section_nbd() {
  if ! fio --enghelp=nbd >/dev/null 2>&1; then
    echo "compare-qemu: nbd: this fio has no nbd ioengine (it needs fio built with libnbd)" >&2
    exit 1
  fi
  image=$work/nbd.$format
  local source=$work/source.raw socket
  echo "compare-qemu: nbd: preparing a $size $format image in $work" >&2
  make_image "$image"
  # Measured now: qemu-img cannot open the image while qemu-nbd holds its lock.
  image_bytes=$(qemu-img info --output=json -f "$format" "$image" |
    awk -F'[:,]' '/"virtual-size"/ { gsub(/ /, "", $2); print $2; exit }')
  qemu-img create -q -f raw "$source" "$size"
  dd if=/dev/urandom of="$source" bs=4M count=$(($(stat -c %s "$source") / (4 << 20))) conv=notrunc status=none
  # Build the jar before the clock starts.
  "$root/bin/qcow4j" --version >/dev/null

  declare -A result
  for server in ours qemu; do
    socket=$work/$server.sock
    rm -f "$socket"
    "start_$server" "$socket" "$image"
    local uri="nbd+unix:///?socket=$socket"
    # A short untimed pass first, for both servers alike: a JVM server compiles its hot paths in
    # its first seconds, and a long-running server is what is being compared.
    echo "compare-qemu: nbd: $server: warm-up" >&2
    seconds=2 fio_iops "$uri" randread >/dev/null
    nbdcopy "$uri" null:
    echo "compare-qemu: nbd: $server: fio randread" >&2
    result[$server.randread]=$(fio_iops "$uri" randread)
    echo "compare-qemu: nbd: $server: fio randwrite" >&2
    result[$server.randwrite]=$(fio_iops "$uri" randwrite)
    echo "compare-qemu: nbd: $server: nbdcopy out and in (best of 3)" >&2
    result[$server.copyout]=$(nbdcopy_mibs "$uri" null:)
    result[$server.copyin]=$(nbdcopy_mibs "$source" "$uri")
    stop_server
  done

  header "NBD server: qcow4j serve vs qemu-nbd ($format, $size, Unix socket)"
  row "fio 4k randread, depth 16" "IOPS" "${result[ours.randread]}" "${result[qemu.randread]}"
  row "fio 4k randwrite, depth 16" "IOPS" "${result[ours.randwrite]}" "${result[qemu.randwrite]}"
  row "nbdcopy export -> null:" "MiB/s" "${result[ours.copyout]}" "${result[qemu.copyout]}"
  row "nbdcopy file -> export" "MiB/s" "${result[ours.copyin]}" "${result[qemu.copyin]}"
}

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(nbd)
for section in "${sections[@]}"; do
  case $section in
    nbd) section_nbd ;;
    *) echo "compare-qemu: unknown section '$section' (known: nbd)" >&2; exit 2 ;;
  esac
done
