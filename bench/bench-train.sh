#!/usr/bin/env bash
# Training throughput and memory of `longvl train-longpt`: random tiny and small models
# (make-tiny presets, f32), one retrieval instance filling each sequence (so attention is
# causal over the whole length), with a block per checkpointed segment and without
# checkpointing. Prints tokens/s of the second step (the first warms the buffers; STEPS=1
# runs and prints the first alone, where two steps would take too long), the
# graph + activation bytes per token the step planned, the process's peak RSS, and the
# model FLOP/s (6 x matrix parameters + 6 D n heads layers for causal attention, per
# token; recomputation not counted) as a ratio to OpenBLAS sgemm measured in the same run
# (`longvl bench --only matmul --quick`). With Debian's python3-torch installed, the same
# step in PyTorch on the CPU (bench/torch_train_ref.py: the same shapes, tokens,
# checkpointing and thread count; attention in recomputed chunks, O(N) memory like ours)
# runs right after each of ours, and the table gets its tokens/s, our ratio to it, and its
# peak RSS (up to TORCH_MAX_TOKENS tokens, default 40000: PyTorch runs ~4-20x slower, so
# its 128K step would take hours on 2 cores). TORCH_STEPS=1 times PyTorch's first step
# alone (marked "(step 1)" in its column), for lengths where its second would take too long.
# TORCH_ATTN_CHUNK sets PyTorch's attention chunk (query rows, default 1024; at 128K the
# small model needs 256 to fit in 24 GiB).
# Debian's PyTorch allocates its CPU tensors with glibc malloc, which maps every block over
# 32 MiB afresh and unmaps it when freed, so on this VM PyTorch spends more time in page
# faults than in its kernels. So PyTorch runs on jemalloc (Debian's libjemalloc2,
# LD_PRELOAD) told to keep freed pages for reuse, what a user who tunes PyTorch's allocator
# gets (glibc's own tunables, no mmap and no trimming, fragment the heap past 24 GiB at
# 32K tokens); TORCH_MALLOC=glibc runs it on Debian's default, and without libjemalloc2
# that is what runs, with a warning that the ratios overstate our lead.
# DEVICE=vulkan trains on the Vulkan device (LONGVL_VK_DEVICE) instead: the reference is
# then the device's FMA peak (`longvl bench --only vulkan --quick`), and PyTorch, where it
# has CUDA, runs the same step on the GPU (peak GPU memory instead of RSS).
# usage: [PRESETS="tiny small"] [MODES="every none"] [DEVICE=cpu|vulkan] [STEPS=2|1] [TORCH_STEPS=2|1]
#        [TORCH_MAX_TOKENS=40000] [TORCH_MALLOC=jemalloc|glibc] [TORCH_ATTN_CHUNK=1024]
#        bench/bench-train.sh LONGVL [LENGTH...]
#        (default lengths 8192 32768; MODES=every: only the checkpointed rows)
set -euo pipefail
longvl=$1
shift
lengths=("$@")
[ $# -eq 0 ] && lengths=(8192 32768)
tok=$(dirname "$0")/../../shared/data/tokenizer
dir=$(mktemp -d "${TMPDIR:-/tmp}/longvl-bench-train-XXXXXX")
trap 'rm -rf "$dir"' EXIT

threads=$(nproc)
steps=${STEPS:-2}
[ "$steps" = 1 ] || [ "$steps" = 2 ] || { echo "STEPS must be 1 or 2" >&2; exit 2; }
torch_steps=${TORCH_STEPS:-$steps}
[ "$torch_steps" = 1 ] || [ "$torch_steps" = 2 ] || { echo "TORCH_STEPS must be 1 or 2" >&2; exit 2; }
device=${DEVICE:-cpu}
py=${LONGVL_PYTHON:-/usr/bin/python3}
torch_ref=$(dirname "$0")/torch_train_ref.py
torch_device=cpu
torch_chunk=${TORCH_ATTN_CHUNK:-1024}
[[ "$torch_chunk" =~ ^[1-9][0-9]*$ ]] || { echo "TORCH_ATTN_CHUNK must be a positive number of rows" >&2; exit 2; }
torch_env=()
jemalloc=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
torch_malloc=${TORCH_MALLOC:-$([ -n "$jemalloc" ] && echo jemalloc || echo glibc)}
case $torch_malloc in
  glibc) ;;
  jemalloc)
    [ -n "$jemalloc" ] || { echo "TORCH_MALLOC=jemalloc needs libjemalloc2 (apt-get install libjemalloc2)" >&2; exit 2; }
    torch_env=(LD_PRELOAD="$jemalloc" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1) ;;
  *) echo "TORCH_MALLOC must be jemalloc or glibc" >&2; exit 2 ;;
esac
[ "$device" = vulkan ] && "$py" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && torch_device=cuda
has_torch=$("$py" -c "import torch" 2>/dev/null && echo yes || echo no)
[ "$has_torch" = yes ] || echo "(no python3-torch: the PyTorch columns stay empty; apt-get install python3-torch)"
[ "$has_torch" = yes ] && [ -z "${TORCH_MALLOC:-}" ] && [ "$torch_malloc" = glibc ] &&
  echo "(no libjemalloc2: PyTorch runs on glibc malloc, 2-3x slower on a 2-core VM, so the ratios overstate our lead; apt-get install libjemalloc2)"
if [ "$device" = vulkan ]; then
  vk=$(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" bench --only vulkan --quick)
  blas=$(sed -n 's/.*FMA peak \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$vk" | head -1)
  echo "device: $(sed -n 's/^## Vulkan on //p' <<<"$vk"); reference: its FMA peak ${blas:-?} GFLOP/s (same run); PyTorch on $torch_device"
  ref_label="vs FMA peak" torch_mem="PyTorch peak $([ "$torch_device" = cuda ] && echo "GPU memory" || echo RSS) MiB"
else
  blas=$("$longvl" bench --only matmul --quick | sed -n 's/.*vs OpenBLAS sgemm (\([0-9.]*\) GFLOP\/s).*/\1/p' | head -1)
  echo "reference: OpenBLAS sgemm ${blas:-?} GFLOP/s (same run); PyTorch's malloc: $torch_malloc, attention chunk $torch_chunk rows"
  ref_label="vs sgemm" torch_mem="PyTorch peak RSS MiB"
fi
echo
echo "| model | tokens | checkpointing | tokens/s | model GFLOP/s | $ref_label | graph+acts bytes/token | peak RSS MiB | PyTorch tokens/s | vs PyTorch | $torch_mem |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for preset in ${PRESETS:-tiny small}; do
  "$longvl" make-tiny "$dir/$preset-hf" --preset $preset --dtype f32 --tokenizer "$tok" >/dev/null
  "$longvl" convert "$dir/$preset-hf" -o "$dir/$preset" --outtype f32 --quiet >/dev/null
  hp() { "$longvl" info "$dir/$preset.gguf" | awk -v k="qwen2vl.$1" '$1 == k { print $NF }'; }
  layers=$(hp block_count) H=$(hp embedding_length) F=$(hp feed_forward_length)
  heads=$(hp attention.head_count) kv=$(hp attention.head_count_kv)
  D=$(( H / heads ))
  vocab=$("$longvl" info "$dir/$preset.gguf" | sed -n 's/.*, vocab \([0-9]*\),.*/\1/p')
  rope=$("$longvl" info "$dir/$preset.gguf" | sed -n 's/.*rope base \([0-9.e+]*\),.*/\1/p')
  for n in "${lengths[@]}"; do
    for mode in ${MODES:-every none}; do
      every=$([ "$mode" = every ] && echo 1 || echo "$layers")
      pages=$(( n / 1024 - 1 ))
      log="$dir/log.csv"
      out=$(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" train-longpt -m "$dir/$preset.gguf" --steps "$steps" --seq-len "$n" --threads "$threads" --device "$device" \
            --data "retrieval:pages=$pages,page-len=1024" --checkpoint-every "$every" --log "$log" 2>&1)
      rss=$(sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' <<<"$out")
      read -r tps bytes < <(awk -F, -v last=$((steps + 1)) 'NR == last { print $6, $8 }' "$log")
      toks=$(( pages * 1024 + 4 ))
      label=$([ "$every" = 1 ] && echo "every block" || echo "none")$([ "$steps" = 1 ] && echo " (step 1)" || true)
      ttps=0 trss=0
      if [ "$has_torch" = yes ] && [ "$toks" -le "${TORCH_MAX_TOKENS:-40000}" ]; then
        tout=$(env "${torch_env[@]}" "$py" "$torch_ref" --device "$torch_device" --vocab "$vocab" --hidden "$H" --layers "$layers" \
               --heads "$heads" --kv-heads "$kv" --ffn "$F" --rope-base "$rope" --tokens "$toks" --threads "$threads" \
               --steps "$torch_steps" --attn-chunk "$torch_chunk" --checkpoint "$([ "$every" = 1 ] && echo block || echo none)" 2>&1 | tail -1) || true
        ttps=$(sed -n 's/.*: \([0-9.]*\) tokens\/s.*/\1/p' <<<"$tout")
        trss=$(sed -n 's/.*peak [A-Za-z ]* \([0-9]*\) MiB.*/\1/p' <<<"$tout")
        [ -n "$ttps" ] || { echo "PyTorch failed: $tout" >&2; ttps=0 trss=0; }
      fi
      flop=$(( 6 * layers * (2 * H * H + 2 * H * kv * D + 3 * H * F) + 6 * D * toks * heads * layers ))
      awk -v p="$preset" -v n="$toks" -v m="$label" -v t="$tps" -v f="$flop" -v b="${blas:-0}" -v by="$bytes" -v r="$rss" \
          -v tt="$ttps" -v tr="$trss" -v ts="$([ "$torch_steps" = 1 ] && echo " (step 1)" || true)" \
        'BEGIN { gf = f * t / 1e9; printf "| %s | %d | %s | %.0f | %.1f | %s | %.0f | %d | %s | %s | %s |\n", p, n, m, t, gf,
                 (b > 0 ? sprintf("%.3fx", gf / b) : "-"), by / n, r, (tt > 0 ? sprintf("%.0f%s", tt, ts) : "-"),
                 (tt > 0 ? sprintf("%.2fx", t / tt) : "-"), (tt > 0 ? tr : "-") }'
    done
  done
done
