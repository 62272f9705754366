#!/usr/bin/env bash
# train-longpt on instances that look at pictures (a PDF page and a PNG) through the
# frozen vision tower, on the converted tiny checkpoint:
# - the step's loss equals the independent reference's: our vision rows spliced into
#   the reference text model (its own mRoPE positions), cross-entropy on the answer
#   tokens, for a pack of a picture instance and a text instance (positions restart,
#   attention stays inside each);
# (a step is one pack of the two instances: the first is about 140 tokens at 30 dpi)
# - each picture is encoded once: a second run reads both from the embedding cache and
#   gives the same loss;
# - stop + resume is bit-identical;
# - with --train-vision: the same first loss, stop + resume bit-identical for the model
#   and the trained projector, which runs in `longvl vision` and gives new rows;
# - bad input (no projector, pads and images that differ in number, a missing file, a
#   page past the end, a broken PDF, an image token labelled as an answer): a message
#   naming the line and exit 1.
# - on Vulkan (lavapipe without a GPU), frozen and trainable: the CPU's step-1 loss;
# - with --train-vision under mpirun -np 2: the projector one rank with twice the
#   accumulation trains (its rows on a page within float tolerance; not under --sanitizer);
# usage: test-train-vision.sh LONGVL TOKENIZER_DIR PDF_DIR [--sanitizer]
longvl=$1
tok=$2
pdfs=$3
mode=${4:-}
ref="$(dirname "$0")/reference/qwen25vl_ref.py"
py=${LONGVL_PYTHON:-/usr/bin/python3}
. "$(dirname "$0")/test-lib.sh" train-vision

f32_model "$dir/hf" "$dir/m" --preset tiny --seed 5
cp "$pdfs/ctree.pdf" "$dir/doc.pdf"
"$py" -c "
import numpy as np; from PIL import Image
Image.fromarray((np.random.default_rng(4).random((80, 150, 3)) * 255).astype(np.uint8)).save('$dir/pic.png')"

# instance 1: text, page 2 of the PDF, text, the PNG, a question, a 3-token answer;
# instance 2: text only. Image tokens: <|vision_start|> 151652, <|image_pad|> 151655,
# <|vision_end|> 151653.
"$py" - "$dir" <<'PY'
import json, sys, random
d = sys.argv[1]
r = random.Random(9)
words = lambda n: [r.randrange(1000, 9000) for _ in range(n)]
one = words(5) + [151652, 151655, 151653] + words(4) + [151652, 151655, 151653] + words(6)
ans1 = words(3)
two = words(12)
ans2 = words(2)
def line(ids, ans, images=None):
    o = {"input_ids": ids + ans, "labels": [-100] * len(ids) + ans}
    if images: o["images"] = images
    return json.dumps(o)
pics = [{"pdf": "doc.pdf", "page": 2}, {"image": "pic.png"}]
open(f"{d}/data.jsonl", "w").write(line(one, ans1, pics) + "\n" + line(two, ans2) + "\n")
# the reference's token lists ('img' takes the next --image-embd) and answer lengths
open(f"{d}/ref1.txt", "w").write(",".join("img" if t == 151655 else str(t) for t in one + ans1))
open(f"{d}/ref2.txt", "w").write(",".join(str(t) for t in two + ans2))
# bad lines
bad = {
  "no-pad": line(words(6), ans1, [{"image": "pic.png"}]),
  "missing": line(one[:8], ans1, [{"pdf": "nowhere.pdf", "page": 1}]),
  "past-end": line(one[:8], ans1, [{"pdf": "doc.pdf", "page": 999}]),
  "broken": line(one[:8], ans1, [{"pdf": "broken.pdf", "page": 1}]),
  "pad-answer": json.dumps({"input_ids": one[:8] + ans1, "labels": [-100] * 6 + [151655, -100] + ans1,
                            "images": [{"image": "pic.png"}]}),
  "bad-entry": line(one[:8], ans1, [{"pdf": "doc.pdf"}]),
}
for k, v in bad.items(): open(f"{d}/bad-{k}.jsonl", "w").write(v + "\n")
PY
cp "$pdfs/broken/truncated-half.pdf" "$dir/broken.pdf"

train=("$longvl" train-longpt -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf" --embd-cache "$dir/cache" --dpi 30
       --data "$dir/data.jsonl" --seq-len 200 --tokens-per-step 1 --lr 1e-3 --weight-decay 0)
out=$("${train[@]}" --steps 1 --log "$dir/one.csv" 2>&1)
if grep -q "pictures: 2 run through the vision tower on the CPU (.* s), 0 read from the cache" <<<"$out"; then ok "first run: both pictures encoded"
else fail "first run: $(tail -3 <<<"$out")"; fi
loss1=$(awk -F, 'NR == 2 { print $3 }' "$dir/one.csv")

# the reference: our vision rows into the independent text model
embd=()
hw=$("$longvl" vision --mmproj "$dir/m-mmproj.gguf" --pdf "$dir/doc.pdf" --page 2 --dpi 30 -o "$dir/v0.f32" 2>/dev/null)
embd+=(--image-embd "$dir/v0.f32" $((${hw#* } / 28)) $((${hw% *} / 28)))
hw=$("$longvl" vision --mmproj "$dir/m-mmproj.gguf" --image "$dir/pic.png" -o "$dir/v1.f32" 2>/dev/null)
embd+=(--image-embd "$dir/v1.f32" $((${hw#* } / 28)) $((${hw% *} / 28)))
"$py" "$ref" logits --hf "$dir/hf" --tokens "$(cat "$dir/ref1.txt")" "${embd[@]}" -o "$dir/r1.f32" >/dev/null &&
"$py" "$ref" logits --hf "$dir/hf" --tokens "$(cat "$dir/ref2.txt")" -o "$dir/r2.f32" >/dev/null ||
  fail "reference logits"
verdict=$("$py" - "$dir" "$loss1" <<'PY'
import numpy as np, sys
d, got = sys.argv[1], float(sys.argv[2])
total, count = 0.0, 0
for name, n_ans in (("1", 3), ("2", 2)):
    toks = open(f"{d}/ref{name}.txt").read().split(",")
    answer = [int(t) for t in toks[-n_ans:]]
    lg = np.fromfile(f"{d}/r{name}.f32", dtype="<f4").reshape(-1, 151936).astype(np.float64)
    rows = lg[-n_ans - 1:-1]   # the rows before each answer token
    lse = np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1)) + rows.max(1)
    total += float((lse - rows[np.arange(n_ans), answer]).sum())
    count += n_ans
want = total / count
rel = abs(got - want) / abs(want)
print("ok" if rel < 1e-4 else "FAIL", f"loss {got:.6f}, reference {want:.6f}, relative difference {rel:.1e} (bound 1e-4)")
PY
)
if [[ $verdict == ok* ]]; then ok "step loss = the reference's: ${verdict#ok }"; else fail "$verdict"; fi

out=$("${train[@]}" --steps 1 --log "$dir/two.csv" 2>&1)
loss2=$(awk -F, 'NR == 2 { print $3 }' "$dir/two.csv")
if grep -q "pictures: 0 run through the vision tower on the CPU (0.0 s), 2 read from the cache" <<<"$out" && [ "$loss1" = "$loss2" ]
then ok "second run: both pictures from the cache, the same loss $loss2"
else fail "second run: loss $loss2 vs $loss1: $(tail -2 <<<"$out")"; fi

# resuming with pictures continues bit for bit
run "${train[@]}" --steps 4 --quiet -o "$dir/whole.gguf"
run "${train[@]}" --steps 4 --quiet --stop-after 2 --save "$dir/s.ckpt"
run "$longvl" train-longpt --resume "$dir/s.ckpt" --mmproj "$dir/m-mmproj.gguf" --embd-cache "$dir/cache" --quiet \
  -o "$dir/resumed.gguf"
if cmp -s "$dir/whole.gguf" "$dir/resumed.gguf"; then ok "stop + resume with pictures: the same model bit for bit"
else fail "stop + resume with pictures differs"; fi

# the trainable tower (--train-vision): the same first loss with the tower run in the step
# (its weights are still the projector's); stop + resume gives the same model and the same
# trained projector bit for bit; the projector changed and runs in `longvl vision`
out=$("${train[@]}" --train-vision --steps 1 --log "$dir/tv1.csv" 2>&1)
loss_tv=$(awk -F, 'NR == 2 { print $3 }' "$dir/tv1.csv")
if [ "$loss_tv" = "$loss1" ] && grep -q "pictures: 4 renderings for the trainable vision tower" <<<"$out"
then ok "trainable tower: step-1 loss $loss_tv = the frozen tower's"
else fail "trainable tower: loss $loss_tv vs $loss1: $(tail -3 <<<"$out")"; fi
run "${train[@]}" --train-vision --steps 3 --quiet -o "$dir/tv-whole.gguf"
run "${train[@]}" --train-vision --steps 3 --quiet --stop-after 1 --save "$dir/tv.ckpt"
run "$longvl" train-longpt --resume "$dir/tv.ckpt" --mmproj "$dir/m-mmproj.gguf" --quiet -o "$dir/tv-resumed.gguf" \
  --mmproj-out "$dir/tv-resumed-proj.gguf"
if cmp -s "$dir/tv-whole.gguf" "$dir/tv-resumed.gguf" && cmp -s "$dir/tv-whole-mmproj.gguf" "$dir/tv-resumed-proj.gguf"
then ok "trainable tower: stop + resume gives the same model and projector bit for bit"
else fail "trainable tower: stop + resume differs"; fi
"$longvl" vision --mmproj "$dir/tv-whole-mmproj.gguf" --image "$dir/pic.png" -o "$dir/v1-trained.f32" >/dev/null 2>&1
if [ -s "$dir/v1-trained.f32" ] && [ "$(stat -c %s "$dir/v1-trained.f32")" = "$(stat -c %s "$dir/v1.f32")" ] &&
   ! cmp -s "$dir/v1-trained.f32" "$dir/v1.f32"
then ok "the trained projector loads in longvl vision, and its rows differ from the original's"
else fail "the trained projector: $(ls -l "$dir"/v1*.f32)"; fi
# Vulkan (lavapipe where there is no GPU): the frozen tower encodes on the device into a
# fresh cache, the trainable tower runs its forward and backward there; both give the
# step-1 loss of the CPU (1e-4 relative), and no op of theirs falls back to the CPU
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
if "$longvl" info --devices >/dev/null 2>&1; then
  for tower in frozen trainable; do
    flags=(--embd-cache "$dir/vk-cache-$tower")
    [ $tower = trainable ] && flags+=(--train-vision)
    out=$(LONGVL_VK_VERBOSE=1 "${train[@]}" "${flags[@]}" --device vulkan --steps 1 --log "$dir/vk-$tower.csv" 2>&1)
    loss_vk=$(awk -F, 'NR == 2 { print $3 }' "$dir/vk-$tower.csv" 2>/dev/null)
    cpu_ops=$(sed -n 's/^vulkan: \([a-z_0-9]*\) runs on the CPU.*/\1/p' <<<"$out" | sort | tr '\n' ' ')
    encoded=yes
    [ $tower = frozen ] && grep -q "pictures: 2 run through the vision tower on the CPU" <<<"$out" && encoded=no
    [ $tower = frozen ] && ! grep -q "pictures: 2 run through the vision tower on " <<<"$out" && encoded=no
    if [ -n "$loss_vk" ] && awk -v a="$loss_vk" -v b="$loss1" 'BEGIN { d = (a - b) / b; exit !(d < 1e-4 && d > -1e-4) }' &&
       [ -z "$cpu_ops" ] && [ $encoded = yes ]
    then ok "Vulkan, $tower tower: step-1 loss $loss_vk vs the CPU's $loss1, every op on the device"
    else fail "Vulkan, $tower tower: loss '$loss_vk' vs $loss1, on the CPU: '$cpu_ops': $(tail -2 <<<"$out")"; fi
  done
else
  echo "skipped: train-longpt --device vulkan with pictures (no Vulkan device)"
fi
# data parallel: the picture instance and the text one in two packs (seq-len 160: 154 + 14 tokens), one a rank
if [ "$mode" != --sanitizer ] && command -v mpirun >/dev/null && ldd "$longvl" | grep -q libmpi; then
  dp=("${train[@]}" --train-vision --seq-len 160 --steps 2 --quiet --threads 1)
  run "${dp[@]}" --tokens-per-step 160 -o "$dir/dp1.gguf"
  run env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun -np 2 --oversubscribe \
    "${dp[@]}" --tokens-per-step 80 -o "$dir/dp2.gguf"
  for f in dp1 dp2; do
    "$longvl" vision --mmproj "$dir/$f-mmproj.gguf" --pdf "$dir/doc.pdf" --page 2 --dpi 30 -o "$dir/$f.f32" >/dev/null 2>&1
  done
  if out=$("$py" "$ref" compare "$dir/dp2.f32" "$dir/dp1.f32" --atol 1e-4 --rtol 1e-5 \
             --label "trained projector's rows, 2 ranks vs 1 rank x2 accumulation" 2>&1) &&
     ! "$py" "$ref" compare "$dir/v0.f32" "$dir/dp1.f32" --atol 1e-4 --rtol 1e-5 >/dev/null 2>&1
  then ok "$out (and the untrained projector's rows fail the same comparison)"; else fail "$out"; fi
elif [ "$mode" != --sanitizer ]; then
  echo "skipped: data parallel (no mpirun, or longvl built without Open MPI)"
fi
expect 1 "--train-vision needs --mmproj" "$longvl" train-longpt -m "$dir/m.gguf" --data "$dir/data.jsonl" --steps 1 \
  --train-vision --quiet
expect 1 "needs --mmproj" "$longvl" train-longpt --resume "$dir/tv.ckpt" --quiet
expect 1 "--mmproj-out: the tower is trained only with --train-vision" "${train[@]}" --steps 1 --quiet \
  --mmproj-out "$dir/x.gguf"

# bad input
base=("$longvl" train-longpt -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf" --embd-cache "$dir/cache" --dpi 30
      --steps 1 --seq-len 4096 --quiet)
expect 1 "line 1: it looks at images: give train-longpt the projector" \
  "$longvl" train-longpt -m "$dir/m.gguf" --data "$dir/data.jsonl" --steps 1 --quiet
expect 1 "line 1: its <|image_pad|> tokens and its images differ in number" "${base[@]}" --data "$dir/bad-no-pad.jsonl"
expect 1 "line 1: .*nowhere.pdf" "${base[@]}" --data "$dir/bad-missing.jsonl"
expect 1 "line 1: .*doc.pdf has [0-9]* pages, not a page 999" "${base[@]}" --data "$dir/bad-past-end.jsonl"
expect 1 "line 1: .*broken.pdf" "${base[@]}" --data "$dir/bad-broken.jsonl"
expect 1 "line 1: an <|image_pad|> token labelled as an answer" "${base[@]}" --data "$dir/bad-pad-answer.jsonl"
expect 1 "line 1: a pdf image needs a page number" "${base[@]}" --data "$dir/bad-bad-entry.jsonl"
expect 1 "m.gguf: missing string key clip.projector_type" "${base[@]}" --mmproj "$dir/m.gguf" --data "$dir/data.jsonl"
summary
