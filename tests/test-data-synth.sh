#!/usr/bin/env bash
# longvl data synth, on a generated PDF whose content is known and on the real PDFs of
# ../shared/data/pdfs (pools at 30 dpi, so that documents are 200-16,500 tokens):
# - generated PDF (tests/reference/make_pdf.py): the pool finds its sections from the
#   headings; every question is right against the truth (cloze heads + answers are the
#   sentences, sums and differences of the sentences' numbers, headings in order, anchors
#   naming sections with the segment's pages);
# - real PDFs, all five tasks, long-biased lengths: each instance is well formed and its
#   "tokens" is the pool's page tokens plus its text (synth_check.py); the golden test:
#   each question's evidence text is on its evidence page as poppler's pdftotext reads it
#   (evidence_check.py, with a negative control); the length histogram is within 6
#   points of its target in each bin, and extraction : reasoning is 8 : 2 within 7 points;
# - two shards (--shard 0/2, 1/2) hold exactly the lines of one run;
# - train-longpt trains on a shard: two steps, one instance each, and the tokens it
#   counts are the instances' "tokens";
# - the model generator: a random model's replies are refused (and are what `longvl run`
#   answers to the same pages and prompt); a model trained to reply in the form is taken;
# - a pool that keeps its documents (pool add --copy), moved and merged, still serves:
#   its instances' pages are its copies, whose SHA-256 is the document's;
# - bad flags, config files and pools: a message and exit 1 or 2.
# usage: test-data-synth.sh LONGVL TOKENIZER_DIR PDF_DIR
longvl=$1
tok=$2
pdfs=$3
py=${LONGVL_PYTHON:-/usr/bin/python3}
refdir="$(dirname "$0")/reference"
. "$(dirname "$0")/test-lib.sh" data-synth

# --- a generated PDF --------------------------------------------------------------------
"$py" "$refdir/make_pdf.py" "$dir/gen.pdf" "$dir/truth.json" --sections 6 --pages-per-section 3 --seed 3
run "$longvl" data pool add --pool "$dir/gpool" --dpi 30 "$dir/gen.pdf" --quiet
secs=$("$py" -c "
import sqlite3, sys; print(';'.join(f'{t}:{a + 1}-{b + 1}' for t, a, b in sqlite3.connect(sys.argv[1]).execute(
    'SELECT title, first_page, last_page FROM sections ORDER BY idx')))" "$dir/gpool/pool.sqlite")
want=$("$py" -c "
import json, sys; print(';'.join(f\"{s['title']}:{s['first_page']}-{s['last_page']}\" for s in json.load(open(sys.argv[1]))['sections']))" \
  "$dir/truth.json")
if [ "$secs" = "$want" ]; then ok "generated PDF: sections from its headings: $secs"
else fail "generated PDF: sections $secs, want $want"; fi
printf 'bins = 256 512 1024 2048 4096\nocr-full = 1\nocr-needle = 1\n' >"$dir/gen.conf"
run "$longvl" data synth --pool "$dir/gpool" -o "$dir/gout" --tokenizer "$tok" --instances 200 --seed 2 \
  --config "$dir/gen.conf" --quiet
if out=$("$py" "$refdir/synth_check.py" "$dir/gpool/pool.sqlite" "$dir/gout/shard-0-of-1.jsonl" --truth "$dir/truth.json")
then ok "$out"; else fail "$out"; fi
rules=$("$py" -c "import json, sys; print(' '.join(sorted(json.load(open(sys.argv[1]))['rules'])))" "$dir/gout/manifest-0-of-1.json")
if [ "$rules" = "captions cloze cloze-multi difference heading headings larger ocr-full ocr-needle order sum" ]; then
  ok "generated PDF: every rule but a single caption was used: $rules"
else fail "rules used: $rules"; fi

# --- the real PDFs ----------------------------------------------------------------------
run "$longvl" data pool add --pool "$dir/pool" --dpi 30 "$pdfs" --quiet
printf '# the test mixture\nbins = 1024 2048 4096 8192 16384\nocr-full = 1\nocr-needle = 1  # a comment\n' >"$dir/mix.conf"
synth=("$longvl" data synth --pool "$dir/pool" --tokenizer "$tok" --instances 300 --seed 7 --config "$dir/mix.conf"
       --distribution long-biased --quiet)
run "${synth[@]}" -o "$dir/out"
shard=$dir/out/shard-0-of-1.jsonl
if out=$("$py" "$refdir/synth_check.py" "$dir/pool/pool.sqlite" "$shard"); then ok "$out"; else fail "$out"; fi
if out=$("$py" "$refdir/evidence_check.py" "$shard" --min 800); then ok "golden evidence: $(tail -2 <<<"$out" | tr '\n' ' ')"
else fail "golden evidence: $(tail -6 <<<"$out")"; fi
verdict=$("$py" - "$dir/out/manifest-0-of-1.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
n = m["instances"]
bins = [b for b in m["length_histogram"] if "target" in b]
worst = max(abs(b["count"] / n - b["target"]) for b in bins)
t = m["tasks"]
qa = t["extract-single"] + t["extract-multi"] + t["reasoning"]
share = t["reasoning"] / qa
ok = n == 300 and m["failed"] == 0 and worst <= 0.06 and abs(share - 0.2) <= 0.07 and t["ocr-full"] and t["ocr-needle"]
print("ok" if ok else "FAIL", f"{n} instances; histogram off its target by {worst:.3f} at most (bound 0.06); "
      f"reasoning {share:.3f} of the questions (want 0.2 +- 0.07); OCR {t['ocr-full']} + {t['ocr-needle']}")
PY
)
if [ "${verdict%% *}" = ok ]; then ok "manifest: ${verdict#ok }"; else fail "manifest: $verdict"; fi

# shards: two machines make what one makes
run "${synth[@]}" -o "$dir/s2" --shard 0/2
run "${synth[@]}" -o "$dir/s2" --shard 1/2
if cmp -s <(sort "$shard") <(cat "$dir/s2"/shard-*-of-2.jsonl | sort); then ok "shards 0/2 + 1/2 = the one-shard run"
else fail "shards 0/2 + 1/2 differ from the one-shard run"; fi
ls "$dir/s2"/*.tmp >/dev/null 2>&1 && fail "temporary files left" || ok "no temporary files left"

# train-longpt reads a shard: one instance a step (seq-len: the longer of the two)
f32_model "$dir/hf" "$dir/m" --preset tiny --seed 5
run "$longvl" data pool add --pool "$dir/one" --dpi 30 "$pdfs/ctree.pdf" --quiet
printf 'bins = 1024 8192\n' >"$dir/one.conf"
run "$longvl" data synth --pool "$dir/one" -o "$dir/oneout" --tokenizer "$dir/m.gguf" --instances 2 --config "$dir/one.conf" --quiet
read -r t1 t2 < <("$py" -c "import json, sys; print(*[json.loads(l)['tokens'] for l in open(sys.argv[1])])" \
  "$dir/oneout/shard-0-of-1.jsonl")
run "$longvl" train-longpt -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf" --dpi 30 --embd-cache "$dir/cache" \
  --data "$dir/oneout/shard-0-of-1.jsonl" --seq-len $((t1 > t2 ? t1 : t2)) --tokens-per-step 1 --steps 2 \
  --log "$dir/train.csv" --quiet
got=$(awk -F, 'NR > 1 { printf "%s ", $2 }' "$dir/train.csv")
if [ "$got" = "$t1 $((t1 + t2)) " ]; then ok "train-longpt: 2 steps, tokens $got(the instances: $t1, $t2)"
else fail "train-longpt: tokens $got, want $t1 $((t1 + t2))"; fi

# --- the model generator (--generator model) ---------------------------------------------
# A random tiny model never writes the form: every reply is refused and the run stops
# after 64, leaving no shard. Each reply is what `longvl run` answers for the same pages
# and prompt (one runtime). The model, trained on that prompt to reply in the form, is
# then taken at its word: the instance has its question after the segment's anchor, its
# answer and its pages as evidence.
printf 'bins = 1024 8192\nextract-single = 1\nextract-multi = 0\nreasoning = 0\n' >"$dir/mg.conf"
mg=(data synth --pool "$dir/one" --generator model --mmproj "$dir/m-mmproj.gguf" --gen-dpi 30 --config "$dir/mg.conf"
    --seed 4 --quiet)
expect 1 "the model's first 64 replies were all refused (the last: no Question: line" \
  "$longvl" "${mg[@]}" -m "$dir/m.gguf" --gen-n-predict 16 --instances 3 -o "$dir/mout" --gen-log "$dir/mlog.jsonl"
[ -e "$dir/mout/shard-0-of-1.jsonl" ] && fail "the refused run left a shard" || ok "the refused run leaves no shard"
read -r mpdf mfirst mlast < <("$py" -c "
import json, sys
r = json.loads(open(sys.argv[1]).readline())
open(sys.argv[2], 'w').write(r['prompt'])
print(r['pdf'], *r['pages'])" "$dir/mlog.jsonl" "$dir/mprompt.txt")
"$longvl" run -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf" --pdf "$mpdf" --pages "$mfirst-$mlast" --dpi 30 \
  -f "$dir/mprompt.txt" -n 16 --quiet --dump-tokens "$dir/mdump.txt" >"$dir/mrun.out" 2>&1
if "$py" -c "
import json, sys
r = json.loads(open(sys.argv[1]).readline())
sys.exit(r['taken'] or r['reply'] + '\n' != open(sys.argv[2]).read())" "$dir/mlog.jsonl" "$dir/mrun.out"
then ok "model generator: its first reply (pages $mfirst-$mlast) is longvl run's answer to the same pages and prompt"
else fail "model generator: its first reply differs from longvl run's: $(head -c 200 "$dir/mrun.out")"; fi
printf 'Question: What kind of tree does the document describe?\nAnswer: the C-tree\nPages: %d, %d' \
  "$mfirst" $((mfirst + 1)) >"$dir/mreply.txt"
"$longvl" tokenize -m "$dir/m.gguf" --file "$dir/mreply.txt" >"$dir/mreply.ids"
"$py" -c "
import json, sys
prompt = [int(x) for x in open(sys.argv[1]).readline().split(':')[1].split(',')]
reply = json.loads(open(sys.argv[2]).read())
ids = [t for i, t in enumerate(prompt) if not (t == 151655 and i and prompt[i - 1] == 151655)]   # a pad a picture
images = [{'pdf': sys.argv[4], 'page': p} for p in range(int(sys.argv[5]), int(sys.argv[6]) + 1)]
print(json.dumps({'input_ids': ids + reply + [151645], 'labels': [-100] * len(ids) + reply + [151645], 'images': images}),
      file=open(sys.argv[3], 'w'))" "$dir/mdump.txt" "$dir/mreply.ids" "$dir/mtrain.jsonl" "$mpdf" "$mfirst" "$mlast"
run "$longvl" train-longpt -m "$dir/m.gguf" --mmproj "$dir/m-mmproj.gguf" --dpi 30 --embd-cache "$dir/cache" \
  --data "$dir/mtrain.jsonl" --seq-len 4096 --tokens-per-step 1 --steps 60 --lr 5e-3 --lr-min 5e-3 --weight-decay 0 \
  -o "$dir/mtrained.gguf" --quiet
run "$longvl" "${mg[@]}" -m "$dir/mtrained.gguf" --gen-n-predict 40 --instances 1 -o "$dir/mout2" --gen-log "$dir/mlog2.jsonl"
verdict=$("$py" -c "
import json, sys
d = json.loads(open(sys.argv[1]).readline())
first = int(sys.argv[2])
anchor = d['anchor'][0].upper() + d['anchor'][1:]
want = (d['rule'] == 'model' and d['task'] == 'extract-single' and d['answer'] == 'the C-tree'
        and d['question'] == anchor + ', what kind of tree does the document describe?'
        and [e['page'] for e in d['evidence']] == [first, first + 1])
print('ok' if want else 'FAIL', d['rule'], repr(d['question']), repr(d['answer']), [e['page'] for e in d['evidence']])" \
  "$dir/mout2/shard-0-of-1.jsonl" "$mfirst")
if [ "${verdict%% *}" = ok ]; then ok "model generator: the trained model's reply is taken: ${verdict#ok }"
else fail "model generator: $verdict"; fi

# --- documents kept inside the pool (pool add --copy) -------------------------------------
# The originals deleted and the pool moved, then merged into another: the instances'
# pages are the merged pool's copies, byte for byte the document the index names.
mkdir -p "$dir/orig" && cp "$pdfs/ctree.pdf" "$dir/orig/"
run "$longvl" data pool add --pool "$dir/kept" --dpi 30 --copy "$dir/orig" --quiet
rm -r "$dir/orig" && mv "$dir/kept" "$dir/kept-moved"
run "$longvl" data pool merge --pool "$dir/kept-merged" "$dir/kept-moved"
rm -r "$dir/kept-moved"
run "$longvl" data synth --pool "$dir/kept-merged" -o "$dir/kout" --tokenizer "$tok" --instances 3 --config "$dir/one.conf" --quiet
verdict=$("$py" -c "
import hashlib, json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
pdfs = {i['pdf'] for d in lines for i in d['images']}
good = all(os.path.dirname(p) == os.path.join(sys.argv[2], 'docs') and
           hashlib.sha256(open(p, 'rb').read()).hexdigest() == d['doc'] for d in lines for p in pdfs)
print('ok' if good and lines else 'FAIL', len(lines), 'instances on', *pdfs)" "$dir/kout/shard-0-of-1.jsonl" "$(realpath "$dir/kept-merged")")
if [ "${verdict%% *}" = ok ]; then ok "--copy, moved and merged: ${verdict#ok }"; else fail "--copy: $verdict"; fi

# --- refusals ---------------------------------------------------------------------------
base=("$longvl" data synth --pool "$dir/pool" -o "$dir/bad" --tokenizer "$tok")
expect 2 "give --pool DIR, -o OUT and --tokenizer PATH" "$longvl" data synth --pool "$dir/pool" -o "$dir/bad"
expect 2 "bad flag or value: --instances 0" "${base[@]}" --instances 0
expect 2 "bad flag or value: --shard 2/2" "${base[@]}" --shard 2/2
expect 2 "unknown --generator" "${base[@]}" --generator oracle
expect 2 "needs -m MODEL.gguf and --mmproj" "${base[@]}" --generator model -m "$dir/m.gguf"
expect 2 "go with --generator model" "${base[@]}" --gen-dpi 30
expect 2 "bad flag or value: --gen-pages 0" "${base[@]}" --generator model --gen-pages 0
expect 1 "nowhere.gguf" "${base[@]}" --generator model -m "$dir/nowhere.gguf" --mmproj "$dir/m-mmproj.gguf"
expect 1 "unknown distribution 'wide'" "${base[@]}" --distribution wide
printf 'extract-single = 4\nbogus = 1\n' >"$dir/c1"
expect 1 "c1 line 2: unknown key" "${base[@]}" --config "$dir/c1"
printf 'weights = 1 2\n' >"$dir/c2"
expect 1 "2 weights for 5 bins" "${base[@]}" --config "$dir/c2"
printf 'bins = 4096 1024\n' >"$dir/c3"
expect 1 "c3 line 1: bin edges are rising" "${base[@]}" --config "$dir/c3"
printf 'extract-single = 0\nextract-multi = 0\nreasoning = 0\n' >"$dir/c4"
expect 1 "the task weights sum to 0" "${base[@]}" --config "$dir/c4"
expect 1 "cannot read the config" "${base[@]}" --config "$dir/nowhere.conf"
expect 1 "nowhere" "$longvl" data synth --pool "$dir/nowhere" -o "$dir/bad" --tokenizer "$tok"
run "$longvl" data pool add --pool "$dir/brokenpool" "$pdfs/broken" --quiet
expect 1 "has no accepted documents" "$longvl" data synth --pool "$dir/brokenpool" -o "$dir/bad" --tokenizer "$tok"
expect 1 "no material" "${base[@]}" --config <(printf "bins = 100000 200000\n") --instances 3 -o "$dir/bad2"

[ -e "$dir/bad2/shard-0-of-1.jsonl" ] && fail "a failed run left its shard" || ok "a failed run leaves no shard"

summary
