#!/usr/bin/env bash
# Runs the same workloads against qcow4j and against QEMU's own tools on the same image, and prints
# ours, qemu's and the ratio (ours / qemu: above 1 is faster for rates, so higher is better).
#
# Usage: bench/compare-qemu.sh [SECTION...]        sections: img, nbd, startup, rss, luks (default: all)
# Environment: QCOW4J_BENCH_SIZE (image size, default 512M), QCOW4J_BENCH_SECONDS (per fio run,
#   default 10), QCOW4J_BENCH_FORMAT (raw or qcow2, default raw), QCOW4J_BENCH_DIR (scratch
#   directory, default a new temporary one, removed at the end), QCOW4J_BENCH_IMG_SIZE (the img
#   section's qcow2 image, default 256M), QCOW4J_BENCH_RUNS (img section: median of N runs, default 3),
#   QCOW4J_BENCH_ROWS (img section: the row functions to run, space-separated, default all).
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

row() { # name unit ours qemu [limit]: the limit is what the machine allows (no qcow4j, no QEMU)
  awk -v name="$1" -v unit="$2" -v ours="$3" -v qemu="$4" -v limit="${5:-}" 'BEGIN {
    ratio = qemu > 0 ? sprintf("%.2f", ours / qemu) : "n/a";
    printf "%-34s %14.1f %14.1f %8s  %s%s\n", name, ours, qemu, ratio, unit, (limit == "" ? "" : sprintf("  (limit %.1f)", limit)) }'
}

header() {
  printf '\n== %s\n%-34s %14s %14s %8s\n' "$1" "workload" "qcow4j" "qemu" "ratio"
}

# ---- img: bin/qcow4j bench and convert against qemu-img bench and convert -----------------------
#
# qemu-img bench issues requests `step` bytes apart; a step that is an odd number of blocks, taken
# modulo the image size, visits every block once in a scattered order: the "random" rows use it.
# qemu-img runs with -t writeback (the page cache, as qcow4j always uses). Every row is the median
# of QCOW4J_BENCH_RUNS runs of each tool, taking turns; a row is one function, so rows can be added
# or run alone.

img_size=${QCOW4J_BENCH_IMG_SIZE:-256M}
runs=${QCOW4J_BENCH_RUNS:-3}

bench_seconds() { # tool args...: prints the seconds of "Run completed in X seconds."
  local tool=$1
  shift
  local output
  if [ "$tool" = ours ]; then
    output=$("$root/bin/qcow4j" bench "$@")
  else
    output=$(qemu-img bench -t writeback "$@")
  fi
  awk '/^Run completed in/ { print $4 }' <<<"$output"
}

median() { # numbers...: the middle one (the lower middle of an even count)
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

bench_row() { # name unit requests prepare args...: one row, both tools on the same workload
  local name=$1 unit=$2 requests=$3 prepare=$4 seconds
  shift 4
  echo "compare-qemu: img: $name" >&2
  local ours=() qemu=()
  # The tools take turns, so that a slow moment of this shared machine hurts both alike.
  for _ in $(seq "$runs"); do
    for tool in ours qemu; do
      $prepare
      seconds=$(bench_seconds "$tool" "$@")
      local rate
      rate=$(awk -v requests="$requests" -v s="$seconds" 'BEGIN { printf "%.1f", (s > 0 ? requests / s : 0) }')
      if [ "$tool" = ours ]; then ours+=("$rate"); else qemu+=("$rate"); fi
    done
  done
  row "$name" "$unit" "$(median "${ours[@]}")" "$(median "${qemu[@]}")"
}

no_prepare() { :; }

fresh_image() { # a new, empty 1 GiB qcow2 image for allocating writes
  rm -f "$work/fresh.qcow2"
  qemu-img create -q -f qcow2 "$work/fresh.qcow2" 1G
}

img_blocks() { # how many blocks of $1 bytes the img section's image holds
  echo $(($(qemu-img info --output=json -f qcow2 "$work/full.qcow2" |
    awk -F'[:,]' '/"virtual-size"/ { gsub(/ /, "", $2); print $2; exit }') / $1))
}

# Writes use a pattern of 0xa5 so that the image keeps holding data (qemu-img bench writes zeros by
# default). 4 KiB requests scattered over the whole image (an odd step of 40503 blocks):
random_step=$((40503 * 4096))
# 4 KiB requests each in a cluster of its own in a fresh 1 GiB image of 64 KiB clusters: every one allocates
allocating_step=$((6151 * 65536))

row_read_4k_random_depth1() {
  bench_row "4k random read, depth 1" "IOPS" 40000 no_prepare -f qcow2 -c 40000 -d 1 -S "$random_step" "$work/full.qcow2"
}

row_read_4k_random_depth16() {
  bench_row "4k random read, depth 16" "IOPS" 40000 no_prepare -f qcow2 -c 40000 -d 16 -S "$random_step" "$work/full.qcow2"
}

row_write_4k_random_depth1() {
  bench_row "4k random write, depth 1" "IOPS" 20000 no_prepare -w --pattern=0xa5 -f qcow2 -c 20000 -d 1 -S "$random_step" "$work/full.qcow2"
}

row_write_4k_random_depth16() {
  bench_row "4k random write, depth 16" "IOPS" 20000 no_prepare -w --pattern=0xa5 -f qcow2 -c 20000 -d 16 -S "$random_step" "$work/full.qcow2"
}

row_write_4k_allocating_depth1() {
  bench_row "4k allocating write, depth 1" "IOPS" 16384 fresh_image -w --pattern=0xa5 -f qcow2 -c 16384 -d 1 -S "$allocating_step" "$work/fresh.qcow2"
}

row_write_4k_allocating_depth16() {
  bench_row "4k allocating write, depth 16" "IOPS" 16384 fresh_image -w --pattern=0xa5 -f qcow2 -c 16384 -d 16 -S "$allocating_step" "$work/fresh.qcow2"
}

# 1 MiB requests through the whole image four times over (the offset wraps at the end)
row_read_1m_sequential() {
  local count
  count=$((4 * $(img_blocks $((1 << 20)))))
  bench_row "1M sequential read, depth 4" "MiB/s" "$count" no_prepare -f qcow2 -c "$count" -d 4 -s 1M "$work/full.qcow2"
}

row_write_1m_sequential() {
  local count
  count=$((4 * $(img_blocks $((1 << 20)))))
  bench_row "1M sequential write, depth 4" "MiB/s" "$count" no_prepare -w --pattern=0xa5 -f qcow2 -c "$count" -d 4 -s 1M "$work/full.qcow2"
}

# The convert and compare rows read a mixed image (4 MiB blocks in turn: random data, text, a hole),
# the sources made from it by qemu-img; each run writes its own output, removed before the next.
# Every command is timed whole (JVM start included) with its peak RSS (GNU time's %M).
timed() { # command...: prints "SECONDS RSS_KIB" of one run, or "n/a n/a" when it fails
  local start end
  start=$(date +%s.%N)
  if ! /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/convert.err"; then
    echo "n/a n/a"
    return
  fi
  end=$(date +%s.%N)
  awk -v start="$start" -v end="$end" -v rss="$(tail -n 1 "$work/rss")" 'BEGIN { printf "%.3f %d\n", end - start, rss }'
}

convert_row() { # name ours-command qemu-command: MiB/s of the median wall time over the mixed image
  # The commands are strings with OUT standing for the output file, which is removed before each run.
  # The rate counts the bytes of $convert_input (default: the mixed image).
  local name=$1 ours=() qemu=() ours_rss=() qemu_rss=() result
  echo "compare-qemu: img: $name" >&2
  local mib
  mib=$(awk -v bytes="$(stat -c %s "${convert_input:-$work/mixed.raw}")" 'BEGIN { print bytes / 1048576 }')
  for _ in $(seq "$runs"); do
    for tool in ours qemu; do
      [ "$tool" = ours ] && [ "${ours[0]:-}" = n/a ] && continue
      rm -f "$work/out.$tool"
      if [ "$tool" = ours ]; then
        read -r -a command <<<"${2//OUT/$work/out.ours}"
        result=$(timed "$root/bin/qcow4j" "${command[@]}")
        ours+=("${result% *}"); ours_rss+=("${result#* }")
      else
        read -r -a command <<<"${3//OUT/$work/out.qemu}"
        result=$(timed "${command[@]}")
        qemu+=("${result% *}"); qemu_rss+=("${result#* }")
      fi
    done
  done
  local qemu_rate sizes=""
  qemu_rate=$(awk -v m="$mib" -v s="$(median "${qemu[@]}")" 'BEGIN { print m / s }')
  if [ "${ours[0]}" = n/a ]; then
    printf "%-34s %14s %14.1f %8s  %s (qcow4j: %s)\n" "$name" "n/a" "$qemu_rate" "n/a" "MiB/s" \
      "$(head -c 100 "$work/convert.err" | tr '\n' ' ')"
    return
  fi
  if [ -f "$work/out.ours" ] && [ -f "$work/out.qemu" ]; then
    sizes=$(printf ', output %d / %d bytes (%.2f%%)' "$(stat -c %s "$work/out.ours")" "$(stat -c %s "$work/out.qemu")" \
      "$(awk -v o="$(stat -c %s "$work/out.ours")" -v q="$(stat -c %s "$work/out.qemu")" 'BEGIN { print 100 * (o - q) / q }')")
  fi
  row "$name" "MiB/s" "$(awk -v m="$mib" -v s="$(median "${ours[@]}")" 'BEGIN { print m / s }')" "$qemu_rate"
  printf "%-34s %s\n" "" "seconds $(median "${ours[@]}") / $(median "${qemu[@]}"), peak RSS $(($(median "${ours_rss[@]}") / 1024)) / $(($(median "${qemu_rss[@]}") / 1024)) MiB$sizes"
  rm -f "$work/out.ours" "$work/out.qemu"
}

# Both tools convert in their default cache mode, `unsafe` (no flush; qcow4j's default is
# qemu-img's), as users run them.
convert_pair() { # name qemu-img-arguments...: the same convert by both tools
  local name=$1
  shift
  convert_row "$name" "convert $* OUT" "qemu-img convert $* OUT"
}

row_convert_raw_to_qcow2() { convert_pair "convert raw -> qcow2" -f raw -O qcow2 "$work/mixed.raw"; }
row_convert_qcow2_to_raw() { convert_pair "convert qcow2 -> raw" -f qcow2 -O raw "$work/mixed.qcow2"; }
row_convert_qcow2_to_qcow2() { convert_pair "convert qcow2 -> qcow2" -f qcow2 -O qcow2 "$work/mixed.qcow2"; }
row_convert_zlib_to_raw() { convert_pair "convert zlib qcow2 -> raw" -f qcow2 -O raw "$work/mixed.zlib.qcow2"; }
row_convert_raw_to_zlib() { convert_pair "convert -c raw -> qcow2 (zlib)" -c -f raw -O qcow2 "$work/mixed.raw"; }
row_convert_raw_to_zstd() {
  convert_pair "convert -c raw -> qcow2 (zstd)" -c -o compression_type=zstd -f raw -O qcow2 "$work/mixed.raw"
}
# Issue 13's rows: each other format qemu-img writes, converted to raw and to qcow2 (the sources made
# by qemu-img from the mixed image, once, when a row first needs them).
other_format_source() { # format: the mixed image in that format
  local source="$work/mixed.$1"
  [ -f "$source" ] || qemu-img convert -q -f raw -O "$1" "$work/mixed.raw" "$source"
  echo "$source"
}
format_rows() { # format: its two rows
  local source
  source=$(other_format_source "$1")
  convert_pair "convert $1 -> raw" -f "$1" -O raw "$source"
  convert_pair "convert $1 -> qcow2" -f "$1" -O qcow2 "$source"
}
row_convert_vmdk() { format_rows vmdk; }
row_convert_vhdx() { format_rows vhdx; }
row_convert_vpc() { format_rows vpc; }
row_convert_vdi() { format_rows vdi; }

row_compare() {
  convert_row "compare raw qcow2" "compare -f raw -F qcow2 $work/mixed.raw $work/mixed.qcow2" \
    "qemu-img compare -f raw -F qcow2 $work/mixed.raw $work/mixed.qcow2"
}

row_cp_sparse() { # the physical limit beside convert: the same bytes copied by cp, then fsync'd as convert does
  local times=() result
  echo "compare-qemu: img: cp --sparse=always" >&2
  for _ in $(seq "$runs"); do
    rm -f "$work/out.cp"
    result=$(timed sh -c "cp --sparse=always '$work/mixed.raw' '$work/out.cp' && sync '$work/out.cp'")
    times+=("${result% *}")
  done
  rm -f "$work/out.cp"
  awk -v name="limit: cp --sparse=always + sync" -v m="$(stat -c %s "$work/mixed.raw")" -v s="$(median "${times[@]}")" \
    'BEGIN { printf "%-34s %14.1f %14s %8s  MiB/s (%.3f s)\n", name, m / 1048576 / s, "", "", s }'
}

make_mixed() { # path size: 4 MiB blocks in turn random, text, hole (what a used disk looks like)
  local path=$1 blocks i
  rm -f "$path"
  qemu-img create -q -f raw "$path" "$2"
  blocks=$(($(stat -c %s "$path") / (4 << 20)))
  # (yes ends with SIGPIPE, which pipefail would count as a failure)
  head -c $((4 << 20)) < <(yes "line of text in the mixed image, with a number 4711 and some words that repeat") >"$work/text.4m"
  for ((i = 0; i < blocks; i++)); do
    case $((i % 3)) in
      0) dd if=/dev/urandom of="$path" bs=4M seek="$i" count=1 conv=notrunc status=none ;;
      1) dd if="$work/text.4m" of="$path" bs=4M seek="$i" count=1 conv=notrunc status=none ;;
    esac
  done
}

img_rows=(row_read_4k_random_depth1 row_read_4k_random_depth16 row_write_4k_random_depth1
  row_write_4k_random_depth16 row_write_4k_allocating_depth1 row_write_4k_allocating_depth16
  row_read_1m_sequential row_write_1m_sequential row_convert_raw_to_qcow2 row_convert_qcow2_to_raw
  row_convert_qcow2_to_qcow2 row_convert_zlib_to_raw row_convert_raw_to_zlib row_convert_raw_to_zstd row_compare
  row_convert_vmdk row_convert_vhdx row_convert_vpc row_convert_vdi row_cp_sparse)

section_img() {
  echo "compare-qemu: img: preparing a $img_size qcow2 image full of data in $work" >&2
  qemu-img create -q -f raw "$work/source.img.raw" "$img_size"
  dd if=/dev/urandom of="$work/source.img.raw" bs=4M count=$(($(stat -c %s "$work/source.img.raw") / (4 << 20))) \
    conv=notrunc status=none
  qemu-img convert -q -f raw -O qcow2 "$work/source.img.raw" "$work/full.qcow2"
  # the convert rows read a mixed image and its qcow2 forms, which the bench rows do not write
  make_mixed "$work/mixed.raw" "$img_size"
  qemu-img convert -q -f raw -O qcow2 "$work/mixed.raw" "$work/mixed.qcow2"
  qemu-img convert -q -c -f raw -O qcow2 "$work/mixed.raw" "$work/mixed.zlib.qcow2"
  rm -f "$work/text.4m"
  cat "$work/mixed.raw" "$work/full.qcow2" "$work/mixed.qcow2" "$work/mixed.zlib.qcow2" >/dev/null
  # Build the jar before the clock starts.
  "$root/bin/qcow4j" --version >/dev/null
  header "Image I/O: bin/qcow4j bench/convert vs qemu-img ($img_size qcow2, 64k clusters, page cache)"
  local name
  for name in ${QCOW4J_BENCH_ROWS:-${img_rows[*]}}; do
    "$name"
  done
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

start_ours() { # socket image [format]
  serve_ours "$1" -f "${3:-$format}" "$2"
}

start_qemu() { # socket image [format]
  serve_qemu "$1" -f "${3:-$format}" "$2"
}

serve_ours() { # socket arguments...: our server on that socket, four connections
  local socket=$1
  shift
  # exec: server_pid is the JVM itself (its VmHWM is read in the rss section)
  exec_ours() { exec "$root/bin/qcow4j" "$@"; }
  exec_ours serve -t -e 4 -k "$socket" "$@" &
  server_pid=$!
  wait_for_socket "$socket"
}

serve_qemu() { # socket arguments...: qemu-nbd on that socket, four connections
  local socket=$1
  shift
  qemu-nbd -t -e 4 -k "$socket" "$@" &
  server_pid=$!
  wait_for_socket "$socket"
}

fio_iops() { # uri rw [depth]: prints the IOPS of a 4 KiB random run at queue depth 16 (or depth)
  local field=8
  [ "$2" = randwrite ] && field=49
  fio --name=nbd --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth="${3:-16}" --size="$size" \
      --runtime="$seconds" --time_based --output-format=terse 2>/dev/null |
    awk -F';' -v field="$field" 'NF > 50 { print $field; exit }'
}

fio_seq_mibs() { # uri rw: prints the MiB/s of a 1 MiB sequential run at queue depth 4 through NBD
  local field=7
  [ "$2" = write ] && field=48
  fio --name=nbd --ioengine=nbd --uri="$1" --rw="$2" --bs=1M --iodepth=4 --size="$size" \
      --runtime="$seconds" --time_based --output-format=terse 2>/dev/null |
    awk -F';' -v field="$field" 'NF > 50 { printf "%.1f\n", $field / 1024; exit }'
}

file_seq_mibs() { # file rw: the same run on the plain file (psync, the page cache kept: --invalidate=0): the physical limit
  local field=7
  [ "$2" = write ] && field=48
  fio --name=file --ioengine=psync --filename="$1" --rw="$2" --bs=1M --size="$size" --invalidate=0 \
      --runtime="$seconds" --time_based --output-format=terse 2>/dev/null |
    awk -F';' -v field="$field" 'NF > 50 { printf "%.1f\n", $field / 1024; exit }'
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
    echo "compare-qemu: nbd: $server: fio 1M sequential read and write" >&2
    result[$server.seqread]=$(fio_seq_mibs "$uri" read)
    result[$server.seqwrite]=$(fio_seq_mibs "$uri" write)
    echo "compare-qemu: nbd: $server: nbdcopy out and in (best of 3)" >&2
    result[$server.copyout]=$(nbdcopy_mibs "$uri" null:)
    result[$server.copyin]=$(nbdcopy_mibs "$source" "$uri")
    stop_server
  done
  if [ "$format" = raw ]; then
    echo "compare-qemu: nbd: limits: the plain file through fio and nbdcopy" >&2
    result[limit.seqread]=$(file_seq_mibs "$image" read)
    result[limit.seqwrite]=$(file_seq_mibs "$image" write)
    result[limit.copyout]=$(nbdcopy_mibs "$image" null:)
    result[limit.copyin]=$(nbdcopy_mibs "$source" "$work/copy.raw")
  fi

  header "NBD server: qcow4j serve vs qemu-nbd ($format, $size, Unix socket)"
  row "fio 4k randread, depth 16" "IOPS" "${result[ours.randread]}" "${result[qemu.randread]}"
  row "fio 4k randwrite, depth 16" "IOPS" "${result[ours.randwrite]}" "${result[qemu.randwrite]}"
  row "fio 1M sequential read, depth 4" "MiB/s" "${result[ours.seqread]}" "${result[qemu.seqread]}" "${result[limit.seqread]:-}"
  row "fio 1M sequential write, depth 4" "MiB/s" "${result[ours.seqwrite]}" "${result[qemu.seqwrite]}" "${result[limit.seqwrite]:-}"
  row "nbdcopy export -> null:" "MiB/s" "${result[ours.copyout]}" "${result[qemu.copyout]}" "${result[limit.copyout]:-}"
  row "nbdcopy file -> export" "MiB/s" "${result[ours.copyin]}" "${result[qemu.copyin]}" "${result[limit.copyin]:-}"
}

# ---- luks: encrypted images (issue 11) -----------------------------------------------------------
#
# A qcow2 image with LUKS encryption (qemu-img's defaults: aes-256-xts-plain64, sha256, iter-time
# 2000 ms) made by qemu-img from $size of random data. Unlocking is timed as a whole `read 0 512`
# by each tool's qemu-io (the PBKDF2 of the key slot is most of it); the data path through each NBD
# server (fio) and through convert both ways (iter-time 10 ms for the new image, so that the rows
# time the data and not the key derivation).

luks_secret="secret,id=sec0,data=qcow4j-bench"

section_luks() {
  if ! fio --enghelp=nbd >/dev/null 2>&1; then
    echo "compare-qemu: luks: this fio has no nbd ioengine (it needs fio built with libnbd)" >&2
    exit 1
  fi
  local image=$work/luks.qcow2 plain=$work/luks.raw socket opts
  echo "compare-qemu: luks: preparing a $size encrypted qcow2 image in $work" >&2
  qemu-img create -q -f raw "$plain" "$size"
  dd if=/dev/urandom of="$plain" bs=4M count=$(($(stat -c %s "$plain") / (4 << 20))) conv=notrunc status=none
  qemu-img convert -q --object "$luks_secret" -f raw -O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0 \
    "$plain" "$image"
  opts="driver=qcow2,file.filename=$image,encrypt.key-secret=sec0"
  "$root/bin/qcow4j" --version >/dev/null

  echo "compare-qemu: luks: unlock, $runs runs of each" >&2
  local ours_unlock=() qemu_unlock=()
  for _ in $(seq "$runs"); do
    ours_unlock+=("$(millis "$root/bin/qcow4j" io --object "$luks_secret" --image-opts "$opts" -c 'read 0 512')")
    qemu_unlock+=("$(millis qemu-io --object "$luks_secret" --image-opts "$opts" -c 'read 0 512')")
  done

  declare -A result
  for server in ours qemu; do
    socket=$work/luks.$server.sock
    rm -f "$socket"
    "serve_$server" "$socket" --object "$luks_secret" --image-opts "$opts"
    local uri="nbd+unix:///?socket=$socket"
    echo "compare-qemu: luks: $server: warm-up, then fio" >&2
    seconds=2 fio_iops "$uri" randread >/dev/null
    result[$server.read1]=$(fio_iops "$uri" randread 1)
    result[$server.read16]=$(fio_iops "$uri" randread)
    result[$server.write1]=$(fio_iops "$uri" randwrite 1)
    result[$server.write16]=$(fio_iops "$uri" randwrite)
    result[$server.seqread]=$(fio_seq_mibs "$uri" read)
    result[$server.seqwrite]=$(fio_seq_mibs "$uri" write)
    stop_server
  done

  header "Encrypted qcow2 (LUKS, aes-256-xts-plain64, $size): qcow4j vs qemu-io, qemu-nbd, qemu-img"
  awk -v ours="$(median "${ours_unlock[@]}")" -v qemu="$(median "${qemu_unlock[@]}")" 'BEGIN {
    printf "%-34s %14d %14d %8.2f  ms, median (ratio qcow4j / qemu; goal at most 1.5)\n", "unlock (io read 0 512)", ours, qemu, ours / qemu }'
  row "fio 4k randread, depth 1" "IOPS" "${result[ours.read1]}" "${result[qemu.read1]}"
  row "fio 4k randread, depth 16" "IOPS" "${result[ours.read16]}" "${result[qemu.read16]}"
  row "fio 4k randwrite, depth 1" "IOPS" "${result[ours.write1]}" "${result[qemu.write1]}"
  row "fio 4k randwrite, depth 16" "IOPS" "${result[ours.write16]}" "${result[qemu.write16]}"
  row "fio 1M sequential read, depth 4" "MiB/s" "${result[ours.seqread]}" "${result[qemu.seqread]}"
  row "fio 1M sequential write, depth 4" "MiB/s" "${result[ours.seqwrite]}" "${result[qemu.seqwrite]}"
  local convert_input=$plain
  convert_row "convert encrypted -> raw" "convert --object $luks_secret --image-opts $opts -O raw OUT" \
    "qemu-img convert --object $luks_secret --image-opts $opts -O raw OUT"
  local target="-O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
  convert_row "convert raw -> encrypted" "convert --object $luks_secret -f raw $target $plain OUT" \
    "qemu-img convert --object $luks_secret -f raw $target $plain OUT"
}

# ---- startup: wall time of short commands against qemu-img and a bare `java -version` ------------
#
# Each figure is the median of QCOW4J_BENCH_STARTS runs (default 11), the tools taking turns. The
# ratio is qcow4j's time over java -version's (the goal: at most 2); qemu-img is shown beside it.

starts=${QCOW4J_BENCH_STARTS:-11}

millis() { # command...: wall milliseconds of one run, output dropped
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

section_startup() {
  local image=$work/startup.qcow2 java=() ours_version=() ours_info=() qemu_version=() qemu_info=()
  qemu-img create -q -f qcow2 "$image" 1G
  # Build the jar and its AOT cache before the clock starts.
  "$root/bin/qcow4j" --version >/dev/null
  . "$root/bin/jdk.sh"
  qcow4j_find_jdk
  echo "compare-qemu: startup: $starts runs of each" >&2
  for _ in $(seq "$starts"); do
    java+=("$(millis "$JAVA_HOME/bin/java" -version)")
    ours_version+=("$(millis "$root/bin/qcow4j" --version)")
    qemu_version+=("$(millis qemu-img --version)")
    ours_info+=("$(millis "$root/bin/qcow4j" info "$image")")
    qemu_info+=("$(millis qemu-img info "$image")")
  done
  local java_ms
  java_ms=$(median "${java[@]}")
  printf '\n== %s\n%-34s %10s %14s %10s %18s\n' "Start-up (median ms of $starts runs)" "command" "qcow4j" "java -version" \
    "qemu-img" "qcow4j/java"
  startup_row() { # name ours qemu
    awk -v name="$1" -v ours="$2" -v java="$java_ms" -v qemu="$3" 'BEGIN {
      printf "%-34s %10d %14d %10d %18.2f\n", name, ours, java, qemu, ours / java }'
  }
  startup_row "--version" "$(median "${ours_version[@]}")" "$(median "${qemu_version[@]}")"
  startup_row "info (empty 1 GiB qcow2)" "$(median "${ours_info[@]}")" "$(median "${qemu_info[@]}")"
}

# ---- rss: peak resident memory (/usr/bin/time -v, VmHWM for the server) -------------------------

peak_kib() { # command...: the peak RSS in KiB of one run
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$work/rss"
}

section_rss() {
  [ -x /usr/bin/time ] || { echo "compare-qemu: rss: needs /usr/bin/time (GNU time)" >&2; exit 1; }
  local image=$work/rss.qcow2
  echo "compare-qemu: rss: a 200 GiB qcow2 image with 30000 scattered 4 KiB writes" >&2
  qemu-img create -q -f qcow2 "$image" 200G
  awk 'BEGIN { for (i = 0; i < 30000; i++) printf "write -P 3 %d 4k\n", i * 7 * 1048576 }' |
    qemu-io -f qcow2 "$image" >/dev/null
  "$root/bin/qcow4j" --version >/dev/null
  header "Peak RSS (MiB; ratio qcow4j / qemu, lower is better; goal: info/check/map 128, serve 256 + cache)"
  local command
  for command in info check map; do
    row "$command" "MiB" "$(($(peak_kib "$root/bin/qcow4j" "$command" "$image") / 1024))" \
      "$(($(peak_kib qemu-img "$command" "$image") / 1024))"
  done
  # The server under load (issue 10: "any load"): a fresh image of 2 MiB clusters, then in turn
  # fio 4 KiB random writes at depth 32, nbdcopy in and out, fio 1 MiB writes at depth 16, and
  # four fio jobs of 32 MiB random writes at depth 16; the peak over all of them.
  local server ours_kib qemu_kib socket=$work/rss.sock source=$work/rss.source
  qemu-img create -q -f raw "$source" 1G
  dd if=/dev/urandom of="$source" bs=4M count=256 conv=notrunc status=none
  for server in ours qemu; do
    rm -f "$image" "$socket"
    qemu-img create -q -f qcow2 -o cluster_size=2M "$image" 8G
    "start_$server" "$socket" "$image" qcow2
    local uri="nbd+unix:///?socket=$socket"
    echo "compare-qemu: rss: $server: serve under fio and nbdcopy" >&2
    fio --name=rss --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth=32 \
      --size=8G --runtime="$seconds" --time_based >/dev/null 2>&1
    nbdcopy "$source" "$uri"
    nbdcopy "$uri" null:
    fio --name=rss --ioengine=nbd --uri="$uri" --rw=write --bs=1M --iodepth=16 \
      --size=8G --runtime="$seconds" --time_based >/dev/null 2>&1
    fio --name=rss --ioengine=nbd --uri="$uri" --rw=randwrite --bs=32M --iodepth=16 --numjobs=4 \
      --size=2G --runtime="$seconds" --time_based >/dev/null 2>&1
    local kib
    kib=$(awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status")
    if [ "$server" = ours ]; then ours_kib=$kib; else qemu_kib=$kib; fi
    stop_server
  done
  rm -f "$source"
  row "serve, 2M clusters, fio + nbdcopy" "MiB" "$((ours_kib / 1024))" "$((qemu_kib / 1024))"
}

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(img nbd startup rss luks)
for section in "${sections[@]}"; do
  case $section in
    img) section_img ;;
    nbd) section_nbd ;;
    startup) section_startup ;;
    rss) section_rss ;;
    luks) section_luks ;;
    *) echo "compare-qemu: unknown section '$section' (known: img, nbd, startup, rss, luks)" >&2; exit 2 ;;
  esac
done
