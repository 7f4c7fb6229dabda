#!/usr/bin/env bash
# Conversion throughput against the speed of copying the same files.
#
#   bench/convert_bench.sh [--octet PATH] [--dir DIR] [--rounds N] [--big] [--threads N] [--clean]
#                          [--preset P]   (P: another synth preset instead of 4gb, e.g. small for a smoke test)
#
# Generates a synthetic BF16 Llama checkpoint of >= 4 GB (`octet synth --preset 4gb`; with --big also the 8 GB
# preset), then alternates, N rounds (default 2), a plain copy of the model directory (`cp -r` + `sync`) and
# `octet convert MODEL --quantization fp8 --activations none -o OUT`, each under `/usr/bin/time -f '%e %M'` for
# wall seconds and peak RSS. Prints a Markdown table: model size, best copy seconds, best convert seconds,
# convert/copy ratio, peak RSS of convert, and the machine's memory read bandwidth when a matvec_bench binary
# sits beside the octet binary (BM_ReadBandwidth).
#
# Builds nothing: pass the octet binary (default build/octet). Work dir: --dir, else $OCTET_BENCH_DIR, else
# /tmp/octet-bench. It needs room for the model plus one copy (the copy and the converted output are deleted after
# each run): ~9 GB for the 4 GB preset, ~18 GB more with --big; the script checks and stops if there is not.
# Generated models are kept for the next run (regenerating 4 GB takes a while); --clean removes them at the end.
#
# Page cache: before every timed run the script tries `sync; echo 3 > /proc/sys/vm/drop_caches` (root only). If
# that is not permitted it says so, and both commands then read the model from a warm cache (it was just written
# or just read); alternating copy and convert keeps that state the same for both, so the ratio compares the work
# each does per byte rather than disk read speed. The copy is timed with `sync` because convert fsyncs its output
# before the final rename (crash safety); without it cp would finish before its bytes reached the disk.
set -euo pipefail

octet=build/octet
work_dir=${OCTET_BENCH_DIR:-/tmp/octet-bench}
rounds=2
big=0
preset_main=4gb
clean=0
threads=""

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --octet) octet=$2; shift 2 ;;
    --dir) work_dir=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --big) big=1; shift ;;
    --preset) preset_main=$2; shift 2 ;;
    --clean) clean=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "convert_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "convert_bench: $*" >&2; exit 1; }

[[ -x "$octet" ]] || die "octet binary '$octet' not found or not executable (build it, or pass --octet PATH)"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got '$rounds'"
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is needed for peak RSS; install the 'time' package"
octet=$(cd "$(dirname "$octet")" && pwd)/$(basename "$octet")
mkdir -p "$work_dir"
thread_args=()
[[ -n "$threads" ]] && thread_args=(--threads "$threads")

log() { echo "convert_bench: $*" >&2; }

# Tries to empty the page cache; prints "dropped" or "warm".
drop_caches() {
  sync
  if { echo 3 > /proc/sys/vm/drop_caches; } 2> /dev/null; then echo dropped; else echo warm; fi
}

free_bytes() { df -B1 --output=avail "$work_dir" | tail -1 | tr -d ' '; }
dir_bytes() { du -sb "$1" | cut -f1; }
gb() { awk -v b="$1" 'BEGIN { printf "%.2f GB", b / 1e9 }'; }
# Smaller of two decimal numbers; the first may be empty.
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

# Runs "$@" under GNU time; prints "seconds peak_rss_kib".
timed() {
  local out=$work_dir/time.txt
  /usr/bin/time -f '%e %M' -o "$out" "$@" > "$work_dir/last.log" 2>&1 || {
    cat "$work_dir/last.log" >&2
    return 1
  }
  tail -1 "$out"
}

# Memory read bandwidth from matvec_bench (optional).
bandwidth="n/a"
matvec=$(dirname "$octet")/matvec_bench
if [[ -x "$matvec" ]]; then
  log "measuring memory read bandwidth with $matvec"
  if json=$("$matvec" --benchmark_filter='ReadBandwidth' --benchmark_format=json 2> /dev/null); then
    bandwidth=$(python3 -c 'import json,sys
b=[x.get("GB/s",0) for x in json.load(sys.stdin)["benchmarks"]]
print(f"{max(b):.1f} GB/s" if b else "n/a")' <<< "$json" 2> /dev/null || echo "n/a")
  fi
fi

convert_supported=1
if ! "$octet" convert --help > /dev/null 2>&1; then
  convert_supported=0
  log "'$octet convert' is not available yet: timing generation and copy only"
fi

presets=("$preset_main")
[[ $big == 1 ]] && presets+=(8gb)
rows=()
cache_state=""
for preset in "${presets[@]}"; do
  model=$work_dir/llama-$preset-bf16
  copy=$work_dir/copy-$preset
  out=$work_dir/fp8-$preset
  rm -rf "$copy" "$out" "$copy.partial" "$out.partial"

  gen_note="reused"
  if [[ ! -f "$model/config.json" ]] || ! grep -q '"torch_dtype": "bfloat16"' "$model/config.json"; then
    # The model (4.4 / 8.8 GB) plus one copy of it must fit.
    case $preset in 8gb) need=$((18 * 1000 ** 3)) ;; 4gb) need=$((9 * 1000 ** 3)) ;; *) need=$((1000 ** 3)) ;; esac
    avail=$(free_bytes)
    (( avail >= need )) || die "$work_dir has $((avail / 1000 ** 3)) GB free; the $preset run needs ~$((need / 1000 ** 3)) GB (model + one copy). Use --dir or OCTET_BENCH_DIR."
    log "generating $model (octet synth --preset $preset --dtype bf16)"
    rm -rf "$model"
    read -r gen_s gen_rss < <(timed "$octet" synth --arch llama --preset "$preset" --dtype bf16 "${thread_args[@]}" \
                                -o "$model")
    gen_note="$(tail -1 "$work_dir/last.log")"
    log "$gen_note"
    gen_note="${gen_s} s, peak RSS $((gen_rss / 1024)) MiB"
  else
    log "reusing $model"
  fi
  model_bytes=$(dir_bytes "$model")
  avail=$(free_bytes)
  (( avail >= model_bytes + 500 * 1000 ** 2 )) || \
    die "$work_dir has $((avail / 1000 ** 2)) MB free; a copy of $model needs $((model_bytes / 1000 ** 2)) MB"

  best_copy=""; best_convert=""; peak_rss=0; out_bytes=0
  for ((round = 1; round <= rounds; round++)); do
    cache_state=$(drop_caches)
    read -r copy_s _ < <(timed sh -c 'cp -r "$1" "$2" && sync' sh "$model" "$copy")
    rm -rf "$copy"
    log "$preset round $round: copy ${copy_s} s (cache $cache_state)"
    best_copy=$(min "$best_copy" "$copy_s")

    if [[ $convert_supported == 1 ]]; then
      cache_state=$(drop_caches)
      read -r convert_s rss < <(timed "$octet" convert "$model" --quantization fp8 --activations none \
                                  "${thread_args[@]}" --quiet --overwrite -o "$out")
      out_bytes=$(dir_bytes "$out")
      rm -rf "$out"
      log "$preset round $round: convert ${convert_s} s, peak RSS $((rss / 1024)) MiB (cache $cache_state)"
      best_convert=$(min "$best_convert" "$convert_s")
      (( rss > peak_rss )) && peak_rss=$rss
    fi
  done

  if [[ $convert_supported == 1 ]]; then
    ratio=$(awk -v a="$best_convert" -v b="$best_copy" 'BEGIN { printf "%.2f", a / b }')
    rows+=("| $preset | $(gb "$model_bytes") | $(gb "$out_bytes") | $best_copy | $best_convert | $ratio | $((peak_rss / 1024)) | $bandwidth |")
  else
    rows+=("| $preset | $(gb "$model_bytes") | n/a | $best_copy | n/a | n/a | n/a | $bandwidth |")
  fi
  log "$preset generation: $gen_note"
done

echo
echo "octet convert --quantization fp8 --activations none vs cp -r + sync ($rounds rounds, best of each; $(nproc) cores;" \
     "page cache: $([[ $cache_state == dropped ]] && echo 'dropped before every run' || echo 'not dropped (no root), warm for both'))"
echo
echo "| model (BF16) | size | FP8 output | copy s | convert s | convert/copy | convert peak RSS MiB | read bandwidth |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [[ $clean == 1 ]]; then
  for preset in "${presets[@]}"; do rm -rf "$work_dir/llama-$preset-bf16"; done
  log "removed the generated models"
else
  log "generated models kept in $work_dir for the next run (--clean removes them)"
fi
