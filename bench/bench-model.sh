#!/usr/bin/env bash
# The model benchmark: `longvl run` on random tiny and small checkpoints (make-tiny).
#  1. prefill and decode tok/s of the small model with f16, q8_0 and q4_0 weights (ratio:
#     to the f16 row of the same run);
#  2. vision encode ms/page (ctree.pdf at 144 dpi, 2,580 tokens a page);
#  3. decode tok/s and peak RSS at contexts 4K-512K (synthetic KV rows via
#     --fill-context, no prefill), with the RSS growth over the 4K row against the KV
#     bytes/token x N the runtime predicts (ratio 1.00 = the cache is all that grows).
# usage: bench/bench-model.sh [LONGVL] [--quick]
set -eu
calc() { awk "BEGIN { print $1 }"; }   # floating-point arithmetic without bc
longvl=${1:-build/examples/longvl}
quick=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
tok="$here/../../shared/data/tokenizer"
pdf="$here/../../shared/data/pdfs/ctree.pdf"
dir=$(mktemp -d "${TMPDIR:-/tmp}/longvl-bench-model-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$longvl" make-tiny "$dir/tiny-hf" --preset tiny --tokenizer "$tok" --dtype f32 --seed 1 >/dev/null
"$longvl" convert "$dir/tiny-hf" -o "$dir/tiny" --outtype f32 --quiet >/dev/null
"$longvl" make-tiny "$dir/small-hf" --preset small --tokenizer "$tok" --dtype f32 --seed 1 >/dev/null
"$longvl" convert "$dir/small-hf" -o "$dir/small" --outtype f16 --quiet >/dev/null
rm -rf "$dir"/*-hf
for t in q8_0 q4_0; do "$longvl" quantize "$dir/small.gguf" "$dir/small-$t.gguf" $t >/dev/null 2>&1; done
# a long text prompt: ~2,000 tokens
lines=120 n_predict=64
[ -n "$quick" ] && lines=10 n_predict=8
for i in $(seq 1 $lines); do echo "Section $i. The quarterly revenue of unit $i rose by $((i * 7 % 97)) percent while costs fell."; done >"$dir/prompt.txt"

echo "## prefill and decode, small model (hidden 256, 4 layers, vocab 151,936), $(nproc) cores"
echo "| weights | file MiB | prompt tokens | prefill tok/s | decode tok/s | decode vs f16 |"
echo "|---|---|---|---|---|---|"
base=""
for w in "" -q8_0 -q4_0; do
  f="$dir/small$w.gguf"
  "$longvl" run -m "$f" -f "$dir/prompt.txt" -n "$n_predict" --kv f16 2>"$dir/err" >/dev/null
  p=$(grep -o 'prefill [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
  n=$(grep -o 'prefill [0-9]* tokens' "$dir/err" | grep -o '[0-9]*')
  d=$(grep -o 'generated [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
  [ -z "$base" ] && base=$d
  label=${w#-}
  printf "| %s | %d | %s | %s | %s | %.2fx |\n" "${label:-f16}" $(( $(stat -c %s "$f") >> 20 )) "$n" "$p" "$d" "$(calc "$d / $base")"
done

# the same on the Vulkan device (LONGVL_VK_DEVICE picks it; on lavapipe, the CPU driver, the
# prompt is cut to 256 tokens), ratio to the CPU rows above
if XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" info --devices >"$dir/devs" 2>&1; then
  vk_prompt="$dir/prompt.txt"
  if grep -q ' cpu ' "$dir/devs"; then head -c 1200 "$dir/prompt.txt" >"$dir/prompt-vk.txt"; vk_prompt="$dir/prompt-vk.txt"; fi
  echo
  echo "## prefill and decode on Vulkan: $(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" run -m "$dir/small-q4_0.gguf" -p x -n 1 --device vulkan 2>&1 >/dev/null | sed -n 's/^vulkan: //p' | head -1)"
  echo "| weights | prompt tokens | prefill tok/s | decode tok/s | decode vs the CPU's |"
  echo "|---|---|---|---|---|"
  for w in "" -q8_0 -q4_0; do
    f="$dir/small$w.gguf"
    "$longvl" run -m "$f" -f "$vk_prompt" -n "$n_predict" --kv f16 2>"$dir/err" >/dev/null
    dc=$(grep -o 'generated [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
    XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" run -m "$f" -f "$vk_prompt" -n "$n_predict" --kv f16 --device vulkan 2>"$dir/err" >/dev/null
    p=$(grep -o 'prefill [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
    n=$(grep -o 'prefill [0-9]* tokens' "$dir/err" | grep -o '[0-9]*')
    d=$(grep -o 'generated [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
    label=${w#-}
    printf "| %s | %s | %s | %s | %.2fx |\n" "${label:-f16}" "$n" "$p" "$d" "$(calc "$d / $dc")"
  done
fi

echo
echo "## vision encode at 144 dpi (ctree.pdf pages 1-2: 1204 x 1680, 10,320 patches, 2,580 tokens each)"
echo "| tower | ms/page |"
echo "|---|---|"
for m in tiny small; do
  "$longvl" run -m "$dir/$m.gguf" --mmproj "$dir/$m-mmproj.gguf" --pdf "$pdf" --pages 1-2 -p "Q" -n 1 2>"$dir/err" >/dev/null
  s=$(grep -o 'encoded in [0-9.]* s' "$dir/err" | grep -o '[0-9.]*')
  printf "| %s (%s) | %.0f |\n" "$m" "$([ $m = tiny ] && echo 'hidden 32, depth 4' || echo 'hidden 128, depth 8')" "$(calc "$s * 500")"
done

echo
echo "## decode at long contexts (the cache filled to context - 256 with synthetic rows, then a 20-token prompt and $n_predict tokens)"
echo "| model | KV | context | KV bytes/token | decode tok/s | peak RSS MiB | RSS growth / predicted KV growth |"
echo "|---|---|---|---|---|---|---|"
sweep() {   # MODEL KV CONTEXTS...
  local m=$1 kv=$2; shift 2
  local rss0="" n0=""
  for n in "$@"; do
    "$longvl" run -m "$dir/$m.gguf" -p "What was the revenue of unit 7?" -n "$n_predict" --kv "$kv" --ctx "$n" \
      --fill-context $((n - 256)) 2>"$dir/err" >/dev/null
    local d rss per
    d=$(grep -o 'generated [0-9]* tokens in [0-9.]* s ([0-9.]* tok/s' "$dir/err" | grep -o '([0-9.]*' | tr -d '(')
    rss=$(grep -o 'peak RSS [0-9]*' "$dir/err" | grep -o '[0-9]*')
    per=$(grep -o 'KV [a-z0-9_]* [0-9]* B/token' "$dir/err" | grep -o '[0-9]* B/' | grep -o '[0-9]*')
    local ratio="(base)"
    if [ -n "$rss0" ]; then ratio=$(printf "%.2f" "$(calc "($rss - $rss0) * 1048576 / ($per * ($n - $n0))")"); else rss0=$rss n0=$n; fi
    printf "| %s | %s | %dK | %.0f | %s | %s | %s |\n" "$m" "$kv" $((n / 1024)) "$per" "$d" "$rss" "$ratio"
  done
}
if [ -n "$quick" ]; then
  sweep tiny f16 4096 32768
else
  sweep tiny f16 4096 32768 131072 524288
  for kv in f16 q8_0 q4_0; do sweep small-q4_0 $kv 4096 32768 131072; done
fi
