#!/usr/bin/env bash
# `longvl run` end to end on the converted tiny checkpoint: a real PDF page (and a PNG)
# rendered, resized, encoded, spliced into the chat prompt, prefilled and answered
# greedily. The answer is checked against the independent references: the reference
# vision tower encodes the same pixels, the reference text model computes the logits of
# prompt + answer, and every answer token must be the reference's argmax at its step
# (the printed margin shows no step was a near-tie). Also: the embedding cache gives the
# same answer without encoding, --pages, and bad input.
# usage: test-run.sh LONGVL TOKENIZER_DIR PDF_DIR
longvl=$1
tok=$2
pdfs=$3
ref="$(dirname "$0")/reference/qwen25vl_ref.py"
py=${LONGVL_PYTHON:-/usr/bin/python3}
. "$(dirname "$0")/test-lib.sh" run

f32_model "$dir/hf" "$dir/m" --preset tiny --seed 7
m=("$longvl" run -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf")
pdf="$pdfs/ctree.pdf"
"$py" -c "
import numpy as np; from PIL import Image
Image.fromarray((np.random.default_rng(2).random((90, 130, 3)) * 255).astype(np.uint8)).save('$dir/pic.png')"

# check_answer NAME PICTURE-ARGS...: our pixels of each picture through the reference
# tower, then the reference logits of prompt + answer; argmax must give each answer token
check_answer() {
  local name=$1; shift
  local embd=() k=0
  for spec in "$@"; do   # "pdf:PAGE" or "png:FILE"
    local hw
    if [[ $spec == pdf:* ]]; then
      hw=$("$longvl" vision --mmproj "$dir/m-mmproj.gguf" --pdf "$pdf" --page "${spec#pdf:}" --dpi 30 -o "$dir/x.f32" --dump-pixels "$dir/px$k.f32" 2>/dev/null)
    else
      hw=$("$longvl" vision --mmproj "$dir/m-mmproj.gguf" --image "${spec#png:}" -o "$dir/x.f32" --dump-pixels "$dir/px$k.f32" 2>/dev/null)
    fi
    local h=${hw% *} w=${hw#* }
    "$py" "$ref" vision --hf "$dir/hf" --pixels "$dir/px$k.f32" "$h" "$w" -o "$dir/rv$k.f32" >/dev/null || { fail "$name: reference vision"; return; }
    embd+=(--image-embd "$dir/rv$k.f32" $((w / 28)) $((h / 28)))
    k=$((k + 1))
  done
  local list
  list=$("$py" -c "
import sys
lines = dict(l.split(':', 1) for l in open('$dir/$name.tok').read().splitlines())
prompt = [int(x) for x in lines['prompt'].split(',')]
answer = [int(x) for x in lines['answer'].split(',') if x.strip()]
out, prev = [], None
for t in prompt:
    if t == 151655:
        if prev != 151655: out.append('img')
    else: out.append(str(t))
    prev = t
print(','.join(out + [str(t) for t in answer[:-1]]))")
  "$py" "$ref" logits --hf "$dir/hf" --tokens "$list" "${embd[@]}" -o "$dir/$name.ref.f32" >/dev/null || { fail "$name: reference logits"; return; }
  local verdict
  verdict=$("$py" -c "
import numpy as np
lines = dict(l.split(':', 1) for l in open('$dir/$name.tok').read().splitlines())
n_prompt = len(lines['prompt'].split(','))
answer = [int(x) for x in lines['answer'].split(',') if x.strip()]
lg = np.fromfile('$dir/$name.ref.f32', dtype='<f4').reshape(-1, 151936)
steps = lg[n_prompt - 1:]
assert len(steps) == len(answer), (len(steps), len(answer))
top = np.argsort(steps, axis=1)[:, ::-1]
bad = [i for i in range(len(answer)) if top[i, 0] != answer[i]]
margin = min(steps[i, top[i, 0]] - steps[i, top[i, 1]] for i in range(len(answer)))
print(('ok' if not bad and len(answer) > 0 else 'FAIL'), f'{len(answer)} tokens, mismatches at {bad}, smallest top-1 margin {margin:.2e}')")
  if [[ $verdict == ok* ]]; then ok "$name: answer = reference greedy: ${verdict#ok }"; else fail "$name: $verdict"; fi
}

# one page, a PNG, two pages + a PNG; the answer streams to stdout
run "${m[@]}" --pdf "$pdf" --pages 2 --dpi 30 -p "What is on this page?" -n 8 --kv f32 --dump-tokens "$dir/page.tok" --quiet
check_answer page pdf:2
run "${m[@]}" --image "$dir/pic.png" -p "Describe the picture." -n 8 --kv f32 --dump-tokens "$dir/png.tok" --quiet
check_answer png "png:$dir/pic.png"
run "${m[@]}" --pdf "$pdf" --pages 3-4 --dpi 30 --image "$dir/pic.png" -p "Compare them." -n 6 --kv f32 --ubatch 64 \
    --dump-tokens "$dir/multi.tok" --quiet
check_answer multi pdf:3 pdf:4 "png:$dir/pic.png"
# the same on Vulkan (vision tower and text model on the device): the same prompt and answer
if XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} "$longvl" info --devices >/dev/null 2>&1; then
  XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} run "${m[@]}" --pdf "$pdf" --pages 3-4 --dpi 30 --image "$dir/pic.png" \
      -p "Compare them." -n 6 --kv f32 --ubatch 64 --device vulkan --dump-tokens "$dir/multi-vk.tok" --quiet
  cmp -s "$dir/multi.tok" "$dir/multi-vk.tok" && ok "multi on Vulkan: the same prompt and answer tokens as on the CPU" ||
    fail "multi on Vulkan: tokens differ from the CPU's: $(diff "$dir/multi.tok" "$dir/multi-vk.tok" | head -4)"
else
  echo "skipped: no Vulkan device (run --device vulkan)"
fi

# the cache: a second run encodes nothing and answers the same
"${m[@]}" --pdf "$pdf" --pages 2-3 --dpi 30 -p "Q" -n 6 --cache-dir "$dir/cache" --dump-tokens "$dir/c1.tok" >"$dir/c1.out" 2>"$dir/c1.err"
"${m[@]}" --pdf "$pdf" --pages 2-3 --dpi 30 -p "Q" -n 6 --cache-dir "$dir/cache" --dump-tokens "$dir/c2.tok" >"$dir/c2.out" 2>"$dir/c2.err"
if cmp -s "$dir/c1.tok" "$dir/c2.tok" && cmp -s "$dir/c1.out" "$dir/c2.out" && grep -q "2 pictures encoded.*0 from the cache" "$dir/c1.err" &&
   grep -q "0 pictures encoded.*2 from the cache" "$dir/c2.err"; then ok "cache: second run read 2 pages from the cache, same answer"
else fail "cache: $(tail -1 "$dir/c1.err") / $(tail -1 "$dir/c2.err")"; fi
# a truncated cache entry is a miss, re-encoded
f=$(ls "$dir"/cache/*/img-000001.emb) && head -c 100 "$f" >"$f.cut" && mv "$f.cut" "$f"
expect 0 "1 pictures encoded.*1 from the cache" "${m[@]}" --pdf "$pdf" --pages 2-3 --dpi 30 -p "Q" -n 2 --cache-dir "$dir/cache"

# text only, with sampling: deterministic for a seed
run "$longvl" run -m "$dir/m.gguf" -p "Hello" -n 5 --temp 0.8 --top-k 40 --top-p 0.9 --seed 3 --dump-tokens "$dir/s1.tok" --quiet
run "$longvl" run -m "$dir/m.gguf" -p "Hello" -n 5 --temp 0.8 --top-k 40 --top-p 0.9 --seed 3 --dump-tokens "$dir/s2.tok" --quiet
if cmp -s "$dir/s1.tok" "$dir/s2.tok"; then ok "sampling with --seed 3 repeats"; else fail "sampling with a seed differs between runs"; fi
expect 0 "generated 3 tokens.*--n-predict reached" "$longvl" run -m "$dir/m.gguf" -p "Hi" -n 3
# rope rules reach the run (their logits are checked against the reference in test-model.sh):
# static s = 4 on the tiny model's base 1e6 and head_dim 16 is 1e6 * 4^(16/14) = 4.87e6
expect 0 "rope base 4.87.*e+06$" "$longvl" run -m "$dir/m.gguf" -p "Hi" -n 2 --rope-scaling static --rope-factor 4
expect 0 "rope base 1e+06 with YaRN" "$longvl" run -m "$dir/m.gguf" -p "Hi" -n 2 --rope-scaling yarn --rope-factor 4
expect 2 "needs --rope-factor" "$longvl" run -m "$dir/m.gguf" -p "Hi" --rope-scaling dynamic

# bad input
expect 1 "encrypted" "${m[@]}" --pdf "$pdfs/pdftools-password-test.pdf" -p "Q"
expect 1 "password is wrong" "${m[@]}" --pdf "$pdfs/pdftools-password-test.pdf" --password x -p "Q"
expect 0 "prompt tokens (4 pictures)" "${m[@]}" --pdf "$pdfs/pdftools-password-test.pdf" --password test --dpi 20 -p "Q" -n 1
expect 1 "truncated-half.pdf: " "${m[@]}" --pdf "$pdfs/broken/truncated-half.pdf" -p "Q"
expect 1 "not within the document's pages 1-34" "${m[@]}" --pdf "$pdf" --pages 30-40 -p "Q"
expect 1 "--pages takes ranges" "${m[@]}" --pdf "$pdf" --pages 3-x -p "Q"
expect 1 "but the context is 100" "${m[@]}" --pdf "$pdf" --pages 1 -p "Q" --ctx 100
expect 2 "--mmproj" "$longvl" run -m "$dir/m.gguf" --pdf "$pdf" -p "Q"
expect 2 "exactly one of -p and -f" "$longvl" run -m "$dir/m.gguf"
expect 2 "takes cpu or vulkan" "$longvl" run -m "$dir/m.gguf" -p "Q" --device gpu
expect 2 "bad value for --kv" "$longvl" run -m "$dir/m.gguf" -p "Q" --kv q3
expect 2 "bad value for --ctx" "$longvl" run -m "$dir/m.gguf" -p "Q" --ctx 600000
expect 1 "missing string key clip.projector_type" "$longvl" run -m "$dir/m.gguf" --mmproj "$dir/m.gguf" --image "$dir/pic.png" -p "Q"
summary
