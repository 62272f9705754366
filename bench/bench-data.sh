#!/usr/bin/env bash
# Throughput and disk cost of the LongPT data side, on a folder of PDFs (default: the
# shared ones), each step on one core:
#   - pool add, text layer only (parse: structured text, layout classes, sections, page
#     sizes and token counts), as pages/s, and as a ratio to poppler's pdftotext reading
#     the same pages in the same run (a text extractor that does less: no layout classes,
#     no index);
#   - pool add --render (parse + render every page at the pool's dpi, as the trainer
#     will), as pages/s, and as a ratio to poppler's pdftoppm rendering the same pages at
#     the same dpi in the same run (pdftoppm also writes each page as a PPM file, which
#     ours does not, so the ratio flatters us by that write);
#   - synth: instances/s and tokens/s of the rule-based generator at 144 dpi (pool-native);
#   - disk: the index's bytes per page, the shard's bytes per instance and per page it
#     shows (pages are referenced, not copied), and the source PDFs' bytes per page.
# usage: bench/bench-data.sh LONGVL [PDF_DIR] [INSTANCES]   (defaults: ../shared/data/pdfs, 2000)
set -euo pipefail
longvl=$1
pdfs=${2:-$(dirname "$0")/../../shared/data/pdfs}
instances=${3:-2000}
dpi=144
tok=$(dirname "$0")/../../shared/data/tokenizer
dir=$(mktemp -d "${TMPDIR:-/tmp}/longvl-bench-data-XXXXXX")
trap 'rm -rf "$dir"' EXIT
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }

# the pool: parse only, then parse + render into a second pool
"$longvl" data pool add --pool "$dir/pool" --dpi $dpi "$pdfs" --quiet >"$dir/add.txt"
pages=$(sed -n 's/.* added (\([0-9]*\) pages.*/\1/p' "$dir/add.txt" | head -1)
parse=$(sed -n 's/.* s, \([0-9.]*\) pages\/s.*/\1/p' "$dir/add.txt")
"$longvl" data pool add --pool "$dir/rpool" --dpi $dpi --render "$pdfs" --quiet >"$dir/radd.txt"
render=$(sed -n 's/.* s, \([0-9.]*\) pages\/s.*/\1/p' "$dir/radd.txt")

# the references: poppler on the accepted documents' pages
mapfile -t docs < <("${LONGVL_PYTHON:-/usr/bin/python3}" -c "
import sqlite3, sys
for (p,) in sqlite3.connect(sys.argv[1]).execute(\"SELECT path FROM documents WHERE status = 'accepted'\"): print(p)" \
  "$dir/pool/pool.sqlite")
t0=$(now)
for d in "${docs[@]}"; do pdftotext -q "$d" "$dir/out.txt"; done
t1=$(now)
for d in "${docs[@]}"; do pdftoppm -q -r $dpi "$d" "$dir/ppm"; rm -f "$dir"/ppm*; done
t2=$(now)
ref_text=$(rate "$pages" "$t0" "$t1")
ref_render=$(rate "$pages" "$t1" "$t2")

"$longvl" data synth --pool "$dir/pool" -o "$dir/out" --tokenizer "$tok" --instances "$instances" --quiet >"$dir/synth.txt"
ips=$(sed -n 's/.* s (\([0-9.]*\) instances\/s).*/\1/p' "$dir/synth.txt")
tokens=$(sed -n 's/^tokens: \([0-9]*\) .*/\1/p' "$dir/synth.txt")
secs=$(sed -n 's/.*, \([0-9.]*\) s (.* instances\/s).*/\1/p' "$dir/synth.txt")
index=$(stat -c %s "$dir/pool/pool.sqlite")
shard=$(stat -c %s "$dir/out/shard-0-of-1.jsonl")
shown=$("${LONGVL_PYTHON:-/usr/bin/python3}" -c "
import json, sys; print(sum(json.loads(l)['pages'][1] - json.loads(l)['pages'][0] + 1 for l in open(sys.argv[1])))" \
  "$dir/out/shard-0-of-1.jsonl")
pdf_bytes=$(for d in "${docs[@]}"; do stat -c %s "$d"; done | awk '{ s += $1 } END { print s }')

echo "data pipeline on $pages pages of ${#docs[@]} accepted PDFs in $pdfs, $dpi dpi, one core:"
echo "| step | longvl | reference (same run) | ratio |"
echo "|---|---|---|---|"
awk -v a="$parse" -v b="$ref_text" 'BEGIN { printf "| pool add (parse) | %.1f pages/s | pdftotext %.1f pages/s | %.2fx |\n", a, b, a / b }'
awk -v a="$render" -v b="$ref_render" 'BEGIN { printf "| pool add --render (parse + render) | %.1f pages/s | pdftoppm -r %d %.1f pages/s | %.2fx |\n", a, 144, b, a / b }'
awk -v i="$ips" -v t="$tokens" -v s="$secs" 'BEGIN { printf "| synth (rules, pool-native) | %.0f instances/s, %.2fM tokens/s | | |\n", i, t / s / 1e6 }'
echo
echo "disk: index $index bytes ($((index / pages)) a page); shard $shard bytes for $instances instances ($((shard / instances)) an instance, $((shard / shown)) a page shown); source PDFs $((pdf_bytes / pages)) bytes a page (referenced, not copied)"
