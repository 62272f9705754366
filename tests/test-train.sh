#!/usr/bin/env bash
# longvl train-longpt end to end on the tiny preset (random f32 weights, the real
# tokenizer's vocabulary of 151,936):
# - the synthetic retrieval task (a key/value fact among distractor pages, asked at the
#   end; 16 possible values, so chance is 1/16 = 6.25%) must reach 50% exact-match
#   accuracy on 64 held-out instances in 300 steps;
# - resuming is bit-identical to an uninterrupted run, after --stop-after, after SIGINT
#   (which saves; between steps or inside one, which is then dropped) and after kill -9
#   (from the last periodic checkpoint): cmp of the final model files;
# - a NaN/Inf loss stops the run with a message and keeps the last good checkpoint;
# - checkpointed and unchecked runs, and the dynamic-NTK base in the output model;
# - bad input: clear messages and non-zero exits.
# - data parallel: mpirun -np 2 equals one rank with twice the accumulation (logits of the
#   two models within 1e-5 of their RMS), when the build has Open MPI.
# usage: test-train.sh LONGVL TOKENIZER_DIR [--sanitizer]
# (--sanitizer: the ASan build, ~5x slower, skips the 300 learning steps, and mpirun,
# whose Open MPI allocations LeakSanitizer reports as leaks; it runs all the rest)
longvl=$1
tok=$2
mode=${3:-}
. "$(dirname "$0")/test-lib.sh" train
f32_model "$dir/hf" "$dir/m" --preset tiny --seed 3

# the file's step count: how many optimizer steps a checkpoint holds
ckpt_step() { "$longvl" info "$1" 2>/dev/null | awk '$1 == "longpt.step" { print $NF }'; }

# -- learning: the retrieval task above chance
task=retrieval:pages=4,page-len=16,values=16
if [ "$mode" != --sanitizer ]; then
out=$("$longvl" train-longpt -m "$dir/m.gguf" --data $task --steps 300 --warmup 20 --seq-len 2048 --lr 3e-3 \
      --lr-min 3e-4 --weight-decay 0 --eval-every 300 --eval-instances 64 --log "$dir/learn.csv" --log-every 50 2>&1)
echo "$out" | grep -E "^(step|eval)"
acc=$(echo "$out" | awk '/^eval step 300:/ { split($5, a, "/"); print a[1] }')
if [ -n "$acc" ] && [ "$acc" -ge 32 ]; then ok "retrieval: $acc/64 held-out instances right after 300 steps (chance 4/64; want >= 32)"
else fail "retrieval: accuracy ${acc:-none}/64 after 300 steps (want >= 32): $(tail -3 <<<"$out")"; fi
rows=$(wc -l <"$dir/learn.csv")
if [ "$rows" -eq 301 ] && head -1 "$dir/learn.csv" | grep -q "^step,tokens,loss,lr,grad_norm"; then ok "the CSV log has a header and 300 rows"
else fail "the CSV log has $rows lines"; fi
fi

# -- resuming: every way of stopping continues bit for bit
small=(--data retrieval:pages=2,page-len=16 --seq-len 256 --lr 1e-3 --warmup 2 --steps 12 --quiet)
run "$longvl" train-longpt -m "$dir/m.gguf" "${small[@]}" -o "$dir/whole.gguf"
run "$longvl" train-longpt -m "$dir/m.gguf" "${small[@]}" -o "$dir/again.gguf"
if cmp -s "$dir/whole.gguf" "$dir/again.gguf"; then ok "two runs give the same model bit for bit"; else fail "two runs differ"; fi

expect 0 "stopped (--stop-after) at step 5" "$longvl" train-longpt -m "$dir/m.gguf" "${small[@]}" --stop-after 5 \
  --save "$dir/a.ckpt" --log "$dir/a.csv"
run "$longvl" train-longpt --resume "$dir/a.ckpt" --save "$dir/a.ckpt" --quiet -o "$dir/a.gguf" --log "$dir/a.csv"
if cmp -s "$dir/whole.gguf" "$dir/a.gguf"; then ok "stopped at step 5 and resumed: the same model bit for bit"
else fail "stop + resume differs from the uninterrupted run"; fi
if [ "$(wc -l <"$dir/a.csv")" -eq 13 ]; then ok "the resumed CSV continues the first (12 steps, one header)"
else fail "the resumed CSV has $(wc -l <"$dir/a.csv") lines"; fi

# SIGINT: the run saves where it is and exits 130. (One training process at a time: two
# OpenMP processes on the same cores slow each other down many times over.)
slow=(--data retrieval:pages=2,page-len=16 --seq-len 256 --lr 1e-3 --warmup 2 --steps 30)
run "$longvl" train-longpt -m "$dir/m.gguf" "${slow[@]}" --quiet -o "$dir/b-whole.gguf"
"$longvl" train-longpt -m "$dir/m.gguf" "${slow[@]}" --save "$dir/b.ckpt" --save-every 1 >"$dir/b.log" 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$dir/b.ckpt" ] && break; sleep 0.05; done
kill -INT $pid
wait $pid; rc=$?
stopped=$(ckpt_step "$dir/b.ckpt")
if [ $rc -eq 130 ] && grep -Eq "interrupted (at|during) step" "$dir/b.log" && [ -n "$stopped" ] && [ "$stopped" -lt 30 ]; then
  ok "SIGINT: exit 130, checkpoint at step $stopped"
else fail "SIGINT: exit $rc, checkpoint step '${stopped}': $(tail -2 "$dir/b.log")"; fi
run "$longvl" train-longpt --resume "$dir/b.ckpt" --quiet -o "$dir/b.gguf"
if cmp -s "$dir/b-whole.gguf" "$dir/b.gguf"; then ok "interrupted at step $stopped and resumed: the same model bit for bit"
else fail "SIGINT + resume differs from the uninterrupted run"; fi

# SIGINT inside a long step (8K tokens, about a second here; Ctrl-C 0.3 s after the plan
# line): the run stops at the next graph node, drops the step, keeps step 0 and exits 130;
# the resume runs the step whole
long=(--data retrieval:pages=7,page-len=1024 --seq-len 8192 --steps 1)
run "$longvl" train-longpt -m "$dir/m.gguf" "${long[@]}" --quiet -o "$dir/d-whole.gguf"
"$longvl" train-longpt -m "$dir/m.gguf" "${long[@]}" --save "$dir/d.ckpt" >"$dir/d.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "parameters" "$dir/d.log" && break; sleep 0.05; done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 130 ] && grep -q "interrupted during step 1, which is dropped" "$dir/d.log" && [ "$(ckpt_step "$dir/d.ckpt")" = 0 ]; then
  ok "SIGINT inside step 1: exit 130, the step dropped, checkpoint at step 0"
else fail "SIGINT inside a step: exit $rc, checkpoint step '$(ckpt_step "$dir/d.ckpt")': $(tail -2 "$dir/d.log")"; fi
run "$longvl" train-longpt --resume "$dir/d.ckpt" --quiet -o "$dir/d.gguf"
if cmp -s "$dir/d-whole.gguf" "$dir/d.gguf"; then ok "interrupted inside step 1 and resumed: the same model bit for bit"
else fail "SIGINT inside a step + resume differs from the uninterrupted run"; fi

# kill -9: nothing is saved at the kill; the last periodic checkpoint is whole and resumes
"$longvl" train-longpt -m "$dir/m.gguf" "${slow[@]}" --save "$dir/c.ckpt" --save-every 3 --quiet &
pid=$!
for _ in $(seq 600); do [ -e "$dir/c.ckpt" ] && break; sleep 0.05; done
sleep 0.5
kill -KILL $pid
wait $pid 2>/dev/null
killed=$(ckpt_step "$dir/c.ckpt")
run "$longvl" train-longpt --resume "$dir/c.ckpt" --quiet -o "$dir/c.gguf"
if cmp -s "$dir/b-whole.gguf" "$dir/c.gguf"; then ok "killed (-9) after the checkpoint of step $killed, resumed: the same model bit for bit"
else fail "kill -9 + resume from step $killed differs from the uninterrupted run"; fi

# -- a NaN or infinite loss stops without a step, keeping the last good checkpoint
expect 1 "step 2: the loss is NaN; stopping without taking the step (the last good checkpoint, .*nan.ckpt, holds step 1)" \
  "$longvl" train-longpt -m "$dir/m.gguf" "${small[@]}" --lr 1e30 --clip 0 --save "$dir/nan.ckpt" --save-every 1
s=$(ckpt_step "$dir/nan.ckpt")
if [ "$s" = 1 ]; then ok "the checkpoint after the NaN is the last good step (1)"; else fail "checkpoint step after NaN: '$s'"; fi

# -- checkpointing changes memory, not results; the rope base goes into the model
run "$longvl" train-longpt -m "$dir/m.gguf" "${small[@]}" --checkpoint-every 2 -o "$dir/unchecked.gguf"
if cmp -s "$dir/whole.gguf" "$dir/unchecked.gguf"; then ok "--checkpoint-every 2 (no checkpointing) = every block checkpointed, bit for bit"
else fail "checkpointing changes the result"; fi
run "$longvl" train-longpt -m "$dir/m.gguf" --data retrieval:pages=2,page-len=16 --seq-len 256 --steps 1 --quiet --target-ctx 131072 -o "$dir/ntk.gguf"
# head_dim 16: 1e6 * (131072 / 32768)^(16/14) = 4.876e6
base=$("$longvl" info "$dir/ntk.gguf" | awk '/rope.freq_base/ { print $NF }')
if awk -v b="$base" 'BEGIN { exit !(b > 4.875e6 && b < 4.877e6) }'; then ok "--target-ctx 131072: rope base $base in the model (want 4.876e6)"
else fail "--target-ctx 131072: rope base '$base' (want 4.876e6)"; fi
run "$longvl" logits -m "$dir/ntk.gguf" --tokens 1,2,3 -o "$dir/ntk.f32"   # the output model runs

# -- data parallel: 2 ranks x 256 tokens a step = 1 rank x 512 (3 packs: the sums differ
# only in order)
if [ "$mode" != --sanitizer ] && command -v mpirun >/dev/null && ldd "$longvl" | grep -q libmpi; then
  dp=(--data retrieval:pages=2,page-len=16 --seq-len 256 --lr 1e-3 --warmup 2 --steps 4 --quiet --threads 1)
  run "$longvl" train-longpt -m "$dir/m.gguf" "${dp[@]}" --tokens-per-step 512 -o "$dir/one.gguf"
  run env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun -np 2 --oversubscribe \
    "$longvl" train-longpt -m "$dir/m.gguf" "${dp[@]}" --tokens-per-step 256 -o "$dir/two.gguf"
  ids=198,25,2001,3005,1500,1600,30,2001
  for f in one two m; do "$longvl" logits -m "$dir/$f.gguf" --tokens $ids -o "$dir/$f.f32" 2>/dev/null; done
  py=${LONGVL_PYTHON:-/usr/bin/python3} ref="$(dirname "$0")/reference/qwen25vl_ref.py"
  if out=$("$py" "$ref" compare "$dir/two.f32" "$dir/one.f32" --atol 1e-4 --rtol 1e-5 --label "2 ranks vs 1 rank x2 accumulation" 2>&1)
  then ok "$out"; else fail "$out"; fi
  if "$py" "$ref" compare "$dir/m.f32" "$dir/one.f32" --atol 1e-4 --rtol 1e-5 >/dev/null 2>&1; then
    fail "the comparison cannot tell the trained model from the untrained one"
  else ok "the same comparison tells the untrained model from the trained one"; fi
elif [ "$mode" != --sanitizer ]; then
  echo "skipped: data parallel (no mpirun, or longvl built without Open MPI)"
fi

# -- Vulkan (lavapipe where there is no GPU): every op of every graph on the device; the
# per-step losses and gradient norms of the CPU's run (1e-4 relative) and
# a model whose logits the comparison cannot tell from the CPU-trained one's
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}   # lavapipe's loader wants one
if "$longvl" info --devices >/dev/null 2>&1; then
  vk=(--data retrieval:pages=2,page-len=16 --seq-len 256 --lr 1e-3 --warmup 2 --steps 3 --compute-type bf16)
  run "$longvl" train-longpt -m "$dir/m.gguf" "${vk[@]}" --quiet --log "$dir/cpu.csv" -o "$dir/cpu.gguf"
  LONGVL_VK_VERBOSE=1 "$longvl" train-longpt -m "$dir/m.gguf" "${vk[@]}" --device vulkan --log "$dir/vk.csv" \
    -o "$dir/vk.gguf" >"$dir/vk.log" 2>&1 || fail "train-longpt --device vulkan: $(tail -2 "$dir/vk.log")"
  worst=$(paste -d, "$dir/cpu.csv" "$dir/vk.csv" | awk -F, 'NR > 1 {
            for (c = 3; c <= 5; c += 2) { d = ($c - $(c + 8)) / $c; d = d < 0 ? -d : d; if (d > w) w = d }
          } END { printf "%.1e", w }')
  if awk -v w="$worst" 'BEGIN { exit !(w <= 1e-4) }' && [ "$(wc -l <"$dir/vk.csv")" = 4 ]; then
    ok "Vulkan: 3 steps with the CPU's losses and gradient norms (worst relative difference $worst, bound 1e-4)"
  else fail "Vulkan vs CPU losses/norms differ by $worst: $(cat "$dir/vk.csv")"; fi
  cpu_ops=$(sed -n 's/^vulkan: \([a-z_]*\) runs on the CPU.*/\1/p' "$dir/vk.log" | sort | tr '\n' ' ')
  if [ -z "$cpu_ops" ]; then
    ok "Vulkan: every op of the training graphs ran on the device (forward, backward, the loss, the bf16 casts)"
  elif ! "$longvl" info --devices 2>/dev/null | grep -q "f16 storage yes" && [ "$cpu_ops" = "cont " ]; then
    ok "Vulkan: every op but the bf16 casts ran on the device (it has no 16-bit storage)"
  else fail "Vulkan: training ops fell back to the CPU: $cpu_ops"; fi
  # The device sums the gradients in f32 in its own order: a few near-zero gradients flip
  # sign, which Adam turns into lr-sized steps, and bf16 rounding of the next step's
  # weights spreads them (f32 compute: 1.9e-5 of RMS; bf16: ~1e-3). The untrained model
  # is ~4 RMS away, so 1e-2 of RMS still tells trained from untrained.
  ids=198,25,2001,3005,1500,1600,30,2001
  for f in cpu vk m; do "$longvl" logits -m "$dir/$f.gguf" --tokens $ids -o "$dir/$f-vk.f32" 2>/dev/null; done
  cmp_vk() { "${LONGVL_PYTHON:-/usr/bin/python3}" "$(dirname "$0")/reference/qwen25vl_ref.py" compare "$dir/$1-vk.f32" "$dir/cpu-vk.f32" \
               --atol 2e-3 --rtol 1e-2 --label "$2" 2>&1; }
  if out=$(cmp_vk vk "trained on Vulkan vs on the CPU"); then ok "$out"; else fail "$out"; fi
  if cmp_vk m "untrained" >/dev/null; then fail "the Vulkan comparison cannot tell the untrained model from the trained one"
  else ok "the same comparison tells the untrained model from the CPU-trained one"; fi
else
  echo "skipped: train-longpt --device vulkan (no Vulkan device)"
fi

# -- JSONL data
printf '%s\n' '{"input_ids": [5, 6, 7, 8, 9], "labels": [-100, -100, -100, 8, 9]}' \
              '{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}' >"$dir/d.jsonl"
run "$longvl" train-longpt -m "$dir/m.gguf" --data "$dir/d.jsonl" --seq-len 16 --steps 3 --seed 5 --quiet -o "$dir/j.gguf"

# -- bad input
expect 2 "give either -m" "$longvl" train-longpt --data $task --steps 3
expect 2 "--data is required" "$longvl" train-longpt -m "$dir/m.gguf" --steps 3
expect 1 "--steps is required" "$longvl" train-longpt -m "$dir/m.gguf" --data $task
expect 2 "--lr takes a number" "$longvl" train-longpt -m "$dir/m.gguf" --data $task --steps 3 --lr fast
expect 1 "expected retrieval:pages" "$longvl" train-longpt -m "$dir/m.gguf" --data retrieval:pages=x --steps 3
expect 1 "more than --seq-len 64" "$longvl" train-longpt -m "$dir/m.gguf" --data $task --steps 3 --seq-len 64
printf '%s\n' '{"input_ids": [1, 2], "labels": [-100, 2]}' '{"input_ids": [1, 2], "labels": [1]}' >"$dir/bad.jsonl"
expect 1 "bad.jsonl line 2: input_ids and labels must have the same length" \
  "$longvl" train-longpt -m "$dir/m.gguf" --data "$dir/bad.jsonl" --steps 3
expect 1 "is not a GGUF\|GGUF" "$longvl" train-longpt -m "$dir/d.jsonl" --data $task --steps 3
expect 1 "trained with --lr 0.001; resuming it with 0.002" "$longvl" train-longpt --resume "$dir/a.ckpt" --lr 2e-3
expect 1 "not a usable train-longpt checkpoint" "$longvl" train-longpt --resume "$dir/m.gguf"
summary
