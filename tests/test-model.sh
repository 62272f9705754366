#!/usr/bin/env bash
# The model against the independent NumPy reference (tests/reference/qwen25vl_ref.py,
# which reads the HuggingFace checkpoint, not our GGUF), on the converted tiny checkpoint:
# `longvl vision` on images whose windows are full, partial and padded; `longvl logits`
# for a text-only, a one-image and a three-image prompt, whole and in micro-batches (the
# KV cache carries the context between them), F32 and F16 KV cache; and the vision
# tower's output spliced into a prompt.
# Bounds (F32 weights and cache): max |diff| <= 1e-4 (the issue's bound) and max |diff| /
# RMS(logits) <= 1e-5. The second bound is the sharp one: this tiny model's logits have RMS
# 0.16, and giving an image the wrong grid (5x4 read as 4x5, so wrong M-RoPE positions)
# moves them by only 5.2e-5 absolute but 3.2e-4 relative; that case must fail.
# Vision (F32 weights): the same two bounds; dropping the window attention moves the
# tiny tower's output by 2.4e-2 of its RMS.
# usage: test-model.sh LONGVL TOKENIZER_DIR
longvl=$1
tok=$2
ref="$(dirname "$0")/reference/qwen25vl_ref.py"
py=${LONGVL_PYTHON:-/usr/bin/python3}   # Debian's, with python3-numpy (the pyenv python on PATH has no NumPy)
. "$(dirname "$0")/test-lib.sh" model
# compare LABEL GOT WANT ATOL RTOL: prints the numbers; counts as passed when within bounds
compare() {
  local out; out=$("$py" "$ref" compare "$2" "$3" --atol "$4" --rtol "$5" --label "$1" 2>&1)
  if [ $? -eq 0 ]; then ok "$out"; else fail "$out"; fi
}
# differs LABEL GOT WANT: the comparison must be able to fail, so GOT must be outside the
# 1e-4 / 1e-5 bounds of WANT
differs() {
  local out; out=$("$py" "$ref" compare "$2" "$3" --atol 1e-4 --rtol 1e-5 2>&1)
  if [ $? -eq 0 ]; then fail "$1: not detected ($out)"; else ok "$1 is detected: $out"; fi
}

if ! "$py" -c "import numpy" 2>/dev/null; then
  echo "FAIL $py has no NumPy: install python3-numpy (scripts/install-deps.sh does)"; exit 1
fi
run "$py" "$ref" selftest
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}   # lavapipe's loader wants one
f32_model "$dir/hf" "$dir/m" --preset tiny --shards 2 --seed 11
"$py" -c "
import numpy as np; r = np.random.default_rng(5)
for name, rows in (('A', 6), ('B', 4), ('C', 20)):
    (r.standard_normal((rows, 64)) * 0.5).astype('<f4').tofile('$dir/' + name + '.f32')"

# vision: 140x196 (5x7 merge units: 4 windows, 3 partial), 224x112 (8x4: the padded empty
# window row), 168x224 (the spec's 12x16-patch example), 56x56 (one merge-unit window)
for hw in 140x196 224x112 168x224 56x56; do
  h=${hw%x*} w=${hw#*x}
  "$py" -c "
import numpy as np; np.random.default_rng($h * 7 + $w).standard_normal(($h, $w, 3)).astype('<f4').tofile('$dir/px-$hw.f32')"
  run "$py" "$ref" vision --hf "$dir/hf" --pixels "$dir/px-$hw.f32" "$h" "$w" -o "$dir/want-v-$hw.f32"
  run "$longvl" vision --mmproj "$dir/m-mmproj.gguf" --pixels "$dir/px-$hw.f32" "$h" "$w" -o "$dir/got-v-$hw.f32"
  compare "vision $hw" "$dir/got-v-$hw.f32" "$dir/want-v-$hw.f32" 1e-4 1e-5
  if "$longvl" info --devices >/dev/null 2>&1; then
    run "$longvl" vision --mmproj "$dir/m-mmproj.gguf" --pixels "$dir/px-$hw.f32" "$h" "$w" --device vulkan -o "$dir/vk-v-$hw.f32"
    compare "vision $hw on Vulkan" "$dir/vk-v-$hw.f32" "$dir/want-v-$hw.f32" 1e-4 1e-5
  fi
done

text=151644,8948,198,2610,525,264,10950,17847,13,151645,198,151644,872,198,9707,1879,11,1246,525,498
one=151644,872,198,151652,img,151653,3838,374,419,30,151645,198,151644,77091,198
two=151644,872,198,151652,img,151653,151652,img,151653,151652,img,151653,1879,11,1246
img_one=(--image-embd "$dir/C.f32" 5 4)
img_two=(--image-embd "$dir/A.f32" 3 2 --image-embd "$dir/B.f32" 2 2 --image-embd "$dir/C.f32" 4 5)
for case in text one two; do
  tokens=${!case}
  case $case in one) imgs=("${img_one[@]}");; two) imgs=("${img_two[@]}");; *) imgs=();; esac
  run "$py" "$ref" logits --hf "$dir/hf" --tokens "$tokens" "${imgs[@]}" -o "$dir/want-$case.f32"
  run "$longvl" logits -m "$dir/m.gguf" --tokens "$tokens" "${imgs[@]}" --kv f32 -o "$dir/got-$case.f32"
  compare "$case, f32 cache, one batch" "$dir/got-$case.f32" "$dir/want-$case.f32" 1e-4 1e-5
  run "$longvl" logits -m "$dir/m.gguf" --tokens "$tokens" "${imgs[@]}" --kv f32 --ubatch 4 --ctx 100 -o "$dir/got-$case-ub.f32"
  compare "$case, f32 cache, micro-batches of 4" "$dir/got-$case-ub.f32" "$dir/want-$case.f32" 1e-4 1e-5
  # f16 keys and values: measured 7e-4 of the RMS
  run "$longvl" logits -m "$dir/m.gguf" --tokens "$tokens" "${imgs[@]}" --ubatch 7 -o "$dir/got-$case-f16.f32"
  compare "$case, f16 cache, micro-batches of 7" "$dir/got-$case-f16.f32" "$dir/want-$case.f32" 1e-3 2e-3
done

# the same prompts on the Vulkan backend (lavapipe in CI), micro-batches of 4 so the cache
# on the device carries the context, against the same reference and bounds
if "$longvl" info --devices >/dev/null 2>&1; then
  for case in text two; do
    tokens=${!case}
    case $case in two) imgs=("${img_two[@]}");; *) imgs=();; esac
    run "$longvl" logits -m "$dir/m.gguf" --tokens "$tokens" "${imgs[@]}" --kv f32 --ubatch 4 --device vulkan -o "$dir/vk-$case.f32"
    compare "$case on Vulkan, f32 cache, micro-batches of 4" "$dir/vk-$case.f32" "$dir/want-$case.f32" 1e-4 1e-5
    run "$longvl" logits -m "$dir/m.gguf" --tokens "$tokens" "${imgs[@]}" --ubatch 7 --device vulkan -o "$dir/vk-$case-f16.f32"
    compare "$case on Vulkan, f16 cache" "$dir/vk-$case-f16.f32" "$dir/want-$case.f32" 1e-3 2e-3
  done
  # every upload and download through the staging buffer, as on a GPU whose memory the host
  # cannot map (lavapipe's it can): weights, the cache, inputs and rope tables
  run env LONGVL_VK_NO_MAP=1 "$longvl" logits -m "$dir/m.gguf" --tokens "$two" "${img_two[@]}" --kv f32 --ubatch 4 \
      --device vulkan -o "$dir/vk-two-staged.f32"
  compare "two on Vulkan through staging copies" "$dir/vk-two-staged.f32" "$dir/want-two.f32" 1e-4 1e-5
else
  echo "skipped: no Vulkan device (the Vulkan logits checks)"
fi

# vision -> text: the tower's embeddings of a 140x196 image (7 x 5 merged tokens) in a prompt
chain=151644,872,198,151652,img,151653,3838,374,419,30
run "$py" "$ref" logits --hf "$dir/hf" --tokens "$chain" --image-embd "$dir/want-v-140x196.f32" 7 5 -o "$dir/want-chain.f32"
run "$longvl" logits -m "$dir/m.gguf" --tokens "$chain" --image-embd "$dir/got-v-140x196.f32" 7 5 --kv f32 -o "$dir/got-chain.f32"
compare "our vision + text vs the reference's" "$dir/got-chain.f32" "$dir/want-chain.f32" 1e-4 1e-5

# the comparison can fail: a transposed image grid gives other M-RoPE positions
"$longvl" logits -m "$dir/m.gguf" --tokens "$one" --image-embd "$dir/C.f32" 4 5 --kv f32 -o "$dir/bad.f32" 2>/dev/null
differs "a transposed image grid" "$dir/bad.f32" "$dir/want-one.f32"

# rotary scaling (spec section 7) on the three-image prompt, against the reference given the
# same rule: a base override; YaRN s = 4 from 32K (head_dim 16: ramp over pairs 2-5, cos/sin
# x 1.139); dynamic NTK from L0 = 8, whose L is the largest M-RoPE position + 1 (the verb
# prints it as "next position"), the base computed here from the spec's formula
run "$py" "$ref" logits --hf "$dir/hf" --tokens "$two" "${img_two[@]}" --rope-theta 5e5 -o "$dir/want-base.f32"
run "$longvl" logits -m "$dir/m.gguf" --tokens "$two" "${img_two[@]}" --kv f32 --rope-base 5e5 -o "$dir/got-base.f32"
compare "rope base 5e5" "$dir/got-base.f32" "$dir/want-base.f32" 1e-4 1e-5
run "$py" "$ref" logits --hf "$dir/hf" --tokens "$two" "${img_two[@]}" --yarn 4 32768 -o "$dir/want-yarn.f32"
run "$longvl" logits -m "$dir/m.gguf" --tokens "$two" "${img_two[@]}" --kv f32 --ubatch 5 \
    --rope-scaling yarn --rope-factor 4 --rope-orig-ctx 32768 -o "$dir/got-yarn.f32"
compare "YaRN s = 4 from 32K" "$dir/got-yarn.f32" "$dir/want-yarn.f32" 1e-4 1e-5
dyn_log=$("$longvl" logits -m "$dir/m.gguf" --tokens "$two" "${img_two[@]}" --kv f32 \
    --rope-scaling dynamic --rope-factor 2 --rope-orig-ctx 8 -o "$dir/got-dyn.f32" 2>&1)
next=$(sed -n 's/.*next position \([0-9]*\).*/\1/p' <<<"$dyn_log")
base=$("$py" -c "print(repr(1e6 * (2 * $next / 8 - 1) ** (16 / 14)))")
run "$py" "$ref" logits --hf "$dir/hf" --tokens "$two" "${img_two[@]}" --rope-theta "$base" -o "$dir/want-dyn.f32"
compare "dynamic NTK s = 2 from L0 = 8, L = $next positions: base $base" "$dir/got-dyn.f32" "$dir/want-dyn.f32" 1e-4 1e-5
for rule in base yarn dyn; do differs "rope rule $rule vs no rule" "$dir/got-$rule.f32" "$dir/want-two.f32"; done

# Block-format KV caches need head_dim % 32 == 0: the small preset (head_dim 32). Against
# its own F32-cache logits, by RMS(diff)/RMS(logits): q8_0 <= 1e-2, q4_0 <= 0.2 (a random
# model's K rows quantize badly; measured 4.9e-3 and 0.107), f16 below both.
f32_model "$dir/small-hf" "$dir/small" --preset small --seed 5
for kv in f32 f16 q8_0 q4_0; do
  run "$longvl" logits -m "$dir/small.gguf" --tokens "$text,$text" --kv $kv --ubatch 7 -o "$dir/small-$kv.f32"
done
out=$("$py" -c "
import numpy as np
r = np.fromfile('$dir/small-f32.f32', '<f4').astype(np.float64)
e = {k: np.sqrt(((np.fromfile(f'$dir/small-{k}.f32', '<f4') - r) ** 2).mean() / (r ** 2).mean()) for k in ('f16', 'q8_0', 'q4_0')}
ok = e['f16'] < e['q8_0'] <= 1e-2 and e['q8_0'] < e['q4_0'] <= 0.2
print('ok' if ok else 'FAIL', ', '.join(f'{k} {v:.2e}' for k, v in e.items()))")
if [[ $out == ok* ]]; then ok "KV cache types vs f32, RMS(diff)/RMS: ${out#ok }"; else fail "KV cache types vs f32: $out"; fi

# rel_rms LABEL GOT WANT BOUND: RMS(GOT - WANT) / RMS(WANT) <= BOUND
rel_rms() {
  local out; out=$("$py" -c "
import numpy as np
r = np.fromfile('$3', '<f4').astype(np.float64); g = np.fromfile('$2', '<f4').astype(np.float64)
e = np.sqrt(((g - r) ** 2).mean() / (r ** 2).mean()) if g.size == r.size else float('inf')
print(('ok' if e <= $4 else 'FAIL') + f' {e:.2e} (bound $4)')")
  if [[ $out == ok* ]]; then ok "$1: RMS(diff)/RMS ${out#ok }"; else fail "$1: RMS(diff)/RMS ${out#FAIL }"; fi
}
# On Vulkan: a block-format cache under the same bounds as the CPU's (the device's rope
# differs from the CPU's by ~1e-7, which flips some q8_0 roundings: no tighter bound is
# honest); block-format weights against the CPU's, whose kernels also quantize the
# activations (q8_0 / q8_K) while the device multiplies f32 activations by the
# dequantized weights; measured 1.0e-2 (q8_0) and 1.3e-2 (q4_K_M), bound 3e-2.
if "$longvl" info --devices >/dev/null 2>&1; then
  for kv in q8_0 q4_0; do
    run "$longvl" logits -m "$dir/small.gguf" --tokens "$text,$text" --kv $kv --ubatch 7 --device vulkan -o "$dir/small-vk-$kv.f32"
    # every node on the device: the quantizing cache write (cpy_quant.comp) and the F32
    # vocabulary matrix (155 MB, past lavapipe's 128 MiB descriptor range: in parts)
    out=$(LONGVL_VK_VERBOSE=1 "$longvl" logits -m "$dir/small.gguf" --tokens "$text" --kv $kv --device vulkan -o "$dir/e.f32" 2>&1)
    if grep -q "runs on the CPU" <<<"$out"; then fail "$kv cache on Vulkan: $(grep 'runs on the CPU' <<<"$out")"
    else ok "$kv cache on Vulkan: every node ran on the device, the cache write and the vocabulary product included"; fi
    rm -f "$dir/e.f32"
  done
  rel_rms "q8_0 cache on Vulkan vs f32 cache" "$dir/small-vk-q8_0.f32" "$dir/small-f32.f32" 1e-2
  rel_rms "q4_0 cache on Vulkan vs f32 cache" "$dir/small-vk-q4_0.f32" "$dir/small-f32.f32" 0.2
  for w in q8_0 q4_k_m; do
    run "$longvl" quantize "$dir/small.gguf" "$dir/small-$w.gguf" $w --quiet
    run "$longvl" logits -m "$dir/small-$w.gguf" --tokens "$text" --ubatch 7 -o "$dir/small-$w-cpu.f32"
    run "$longvl" logits -m "$dir/small-$w.gguf" --tokens "$text" --ubatch 7 --device vulkan -o "$dir/small-$w-vk.f32"
    rel_rms "$w weights on Vulkan vs on the CPU" "$dir/small-$w-vk.f32" "$dir/small-$w-cpu.f32" 3e-2
    # micro-batches past the GEMV's 8 columns: the tiled GEMM (on a GPU with tensor cores,
    # from f16-rounded operands)
    run "$longvl" logits -m "$dir/small-$w.gguf" --tokens "$text,$text" --ubatch 64 --device vulkan -o "$dir/small-$w-vk64.f32"
    run "$longvl" logits -m "$dir/small-$w.gguf" --tokens "$text,$text" --ubatch 64 -o "$dir/small-$w-cpu64.f32"
    rel_rms "$w weights on Vulkan vs on the CPU, micro-batches of 64" "$dir/small-$w-vk64.f32" "$dir/small-$w-cpu64.f32" 3e-2
  done
else
  echo "skipped: no Vulkan device (the Vulkan block-format checks)"
fi
rm -f "$dir"/small-hf/*.safetensors

# bad input: a message, a non-zero exit, no output file
v=(--mmproj "$dir/m-mmproj.gguf")
expect 2 "multiples of 28" "$longvl" vision "${v[@]}" --pixels "$dir/px-56x56.f32" 56 50 -o "$dir/e.f32"
expect 2 "takes cpu or vulkan" "$longvl" vision "${v[@]}" --pixels "$dir/px-56x56.f32" 56 56 --device cuda -o "$dir/e.f32"
expect 1 "37632 bytes, expected 75264" "$longvl" vision "${v[@]}" --pixels "$dir/px-56x56.f32" 112 56 -o "$dir/e.f32"
expect 1 "missing string key clip.projector_type" "$longvl" vision --mmproj "$dir/m.gguf" --pixels "$dir/px-56x56.f32" 56 56 -o "$dir/e.f32"
expect 2 "required" "$longvl" vision "${v[@]}" -o "$dir/e.f32"
m=(-m "$dir/m.gguf")
expect 1 "neither a token id nor" "$longvl" logits "${m[@]}" --tokens 1,x,3 -o "$dir/e.f32"
expect 1 "outside the vocabulary" "$longvl" logits "${m[@]}" --tokens 1,99999999 -o "$dir/e.f32"
expect 1 "more \`img\` entries" "$longvl" logits "${m[@]}" --tokens 1,img -o "$dir/e.f32"
expect 1 "1 --image-embd files but 0" "$longvl" logits "${m[@]}" --tokens 1,2 --image-embd "$dir/A.f32" 3 2 -o "$dir/e.f32"
expect 1 "1536 bytes, expected 2048" "$longvl" logits "${m[@]}" --tokens 1,img --image-embd "$dir/A.f32" 4 2 -o "$dir/e.f32"
expect 1 "No such file" "$longvl" logits "${m[@]}" --tokens 1,img --image-embd "$dir/none.f32" 3 2 -o "$dir/e.f32"
expect 1 "do not fit" "$longvl" logits "${m[@]}" --tokens 1,2,3 --ctx 2 -o "$dir/e.f32"
expect 1 "No such file" "$longvl" logits -m "$dir/none.gguf" --tokens 1 -o "$dir/e.f32"
expect 1 "general.architecture is 'clip'" "$longvl" logits -m "$dir/m-mmproj.gguf" --tokens 1 -o "$dir/e.f32"
expect 2 "required" "$longvl" logits "${m[@]}" --tokens 1
expect 2 "takes f16, f32, q8_0 or q4_0" "$longvl" logits "${m[@]}" --tokens 1 --kv q9 -o "$dir/e.f32"
expect 1 "multiple of 32; this model's is 16" "$longvl" logits "${m[@]}" --tokens 1 --kv q8_0 -o "$dir/e.f32"
expect 2 "takes cpu or vulkan" "$longvl" logits "${m[@]}" --tokens 1 --device gpu -o "$dir/e.f32"
expect 2 "needs --rope-factor" "$longvl" logits "${m[@]}" --tokens 1 --rope-scaling yarn -o "$dir/e.f32"
expect 2 "bad value for --rope-scaling" "$longvl" logits "${m[@]}" --tokens 1 --rope-scaling longrope --rope-factor 2 -o "$dir/e.f32"
expect 2 "bad value for --rope-factor" "$longvl" logits "${m[@]}" --tokens 1 --rope-scaling yarn --rope-factor 0.5 -o "$dir/e.f32"
expect 1 "cannot write" "$longvl" logits "${m[@]}" --tokens 1 -o "$dir/no/such/dir/e.f32"
if [ -e "$dir/e.f32" ] || ls "$dir"/*.tmp >/dev/null 2>&1; then fail "a failed run left an output file"
else ok "failed runs left no output file"; fi

summary
