#!/usr/bin/env bash
# Training throughput and memory of `longvl train-longpt`: random tiny and small models
# (make-tiny presets, f32), one retrieval instance filling each sequence (so attention is
# causal over the whole length), with a block per checkpointed segment and without
# checkpointing. Prints tokens/s of the second step (the first warms the buffers), the
# graph + activation bytes per token the step planned, the process's peak RSS, and the
# model FLOP/s (6 x matrix parameters + 6 D n heads layers for causal attention, per
# token; recomputation not counted) as a ratio to OpenBLAS sgemm measured in the same run
# (`longvl bench --only matmul --quick`).
# usage: bench/bench-train.sh LONGVL [LENGTH...]   (default: 8192 32768)
set -euo pipefail
longvl=$1
shift
lengths=("$@")
[ $# -eq 0 ] && lengths=(8192 32768)
tok=$(dirname "$0")/../../shared/data/tokenizer
dir=$(mktemp -d "${TMPDIR:-/tmp}/longvl-bench-train-XXXXXX")
trap 'rm -rf "$dir"' EXIT

blas=$("$longvl" bench --only matmul --quick | sed -n 's/.*vs OpenBLAS sgemm (\([0-9.]*\) GFLOP\/s).*/\1/p' | head -1)
echo "reference: OpenBLAS sgemm ${blas:-?} GFLOP/s (same run)"
echo
echo "| model | tokens | checkpointing | tokens/s | model GFLOP/s | vs sgemm | graph+acts bytes/token | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for preset in tiny small; do
  "$longvl" make-tiny "$dir/$preset-hf" --preset $preset --dtype f32 --tokenizer "$tok" >/dev/null
  "$longvl" convert "$dir/$preset-hf" -o "$dir/$preset" --outtype f32 --quiet >/dev/null
  hp() { "$longvl" info "$dir/$preset.gguf" | awk -v k="qwen2vl.$1" '$1 == k { print $NF }'; }
  layers=$(hp block_count) H=$(hp embedding_length) F=$(hp feed_forward_length)
  heads=$(hp attention.head_count) kv=$(hp attention.head_count_kv)
  D=$(( H / heads ))
  for n in "${lengths[@]}"; do
    for every in 1 "$layers"; do
      pages=$(( n / 1024 - 1 ))
      log="$dir/log.csv"
      out=$("$longvl" train-longpt -m "$dir/$preset.gguf" --steps 2 --seq-len "$n" \
            --data "retrieval:pages=$pages,page-len=1024" --checkpoint-every "$every" --log "$log" 2>&1)
      rss=$(sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' <<<"$out")
      read -r tps bytes < <(awk -F, 'NR == 3 { print $6, $8 }' "$log")
      toks=$(( pages * 1024 + 4 ))
      mode=$([ "$every" = 1 ] && echo "every block" || echo "none")
      flop=$(( 6 * layers * (2 * H * H + 2 * H * kv * D + 3 * H * F) + 6 * D * toks * heads * layers ))
      awk -v p="$preset" -v n="$toks" -v m="$mode" -v t="$tps" -v f="$flop" -v b="${blas:-0}" -v by="$bytes" -v r="$rss" \
        'BEGIN { gf = f * t / 1e9; printf "| %s | %d | %s | %.0f | %.1f | %s | %.0f | %d |\n", p, n, m, t, gf,
                 (b > 0 ? sprintf("%.3fx", gf / b) : "-"), by / n, r }'
    done
  done
done
