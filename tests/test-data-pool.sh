#!/usr/bin/env bash
# longvl data pool add on the real PDFs of ../shared/data/pdfs (11 good, 4 broken, 1
# encrypted), checked against their manifest (an independent record of page counts,
# page sizes and SHA-256s):
# - the accepted documents, their page counts and hashes are the manifest's; the bad
#   files are recorded as rejected with the reason;
# - each page's token count is (H/28)(W/28) + 2 for the manifest's page size rendered
#   at 144 dpi (rounded outward) and smart_resize (the Python reference's);
# - layout: ctree.pdf's first page has its title and the headings "1. Overview" and
#   "2. Introduction", and its outline's section "Recursive binary partitioning" starts
#   on page 2;
# - a re-run adds nothing; a renamed copy is a duplicate; --exclude-hashes keeps a
#   document out; --min-pages/--max-pages filters; two shards add up to the whole, and
#   their pools merged (data pool merge) are the one-run pool row for row;
# - a run killed with SIGKILL and run again gives the pool of an uninterrupted run;
# - bad flags, other settings on an existing pool, a bad hash file: a message, exit 1/2.
# usage: test-data-pool.sh LONGVL PDF_DIR
longvl=$1
pdfs=$2
py=${LONGVL_PYTHON:-/usr/bin/python3}
. "$(dirname "$0")/test-lib.sh" data-pool

q() { "$py" -c "import sqlite3, sys; [print(*r, sep='|') for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]" "$1/pool.sqlite" "$2"; }

run "$longvl" data pool add --pool "$dir/p" "$pdfs" --quiet
verdict=$("$py" - "$dir/p/pool.sqlite" "$pdfs/manifest.tsv" "$(dirname "$0")/reference" <<'PY'
import csv, math, sqlite3, sys
sys.path.insert(0, sys.argv[3])
from preprocess_ref import smart_resize   # HuggingFace's rule, independent of ours
db = sqlite3.connect(sys.argv[1])
man = {r["sha256"]: r for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")}
problems = []
acc = dict(db.execute("SELECT sha256, n_pages FROM documents WHERE status = 'accepted'"))
want = {h: int(r["pages_mutool"]) for h, r in man.items() if r["encrypted"] == "no"}
if acc != want: problems.append(f"accepted {sorted(acc.items())} != manifest {sorted(want.items())}")
checked = 0
for h, r in man.items():
    if h not in acc: continue
    w_pt, h_pt = (float(x) for x in r["page_size"].split(" pts")[0].split(" x "))
    H, W = smart_resize(math.ceil(h_pt * 2 - 1e-3), math.ceil(w_pt * 2 - 1e-3))
    want_tokens = (H // 28) * (W // 28) + 2
    # the manifest gives the first page's size: check the pages of that size
    first = db.execute("SELECT tokens FROM pages WHERE sha256 = ? AND page = 0", (h,)).fetchone()[0]
    if first != want_tokens: problems.append(f"{r['file']} page 1: {first} tokens, want {want_tokens}")
    checked += 1
bad = db.execute("SELECT COUNT(*) FROM documents WHERE status = 'rejected' AND reason != ''").fetchone()[0]
if bad != 5: problems.append(f"{bad} rejected with a reason, want 5")
print("FAIL " + "; ".join(problems) if problems else f"ok {len(acc)} accepted with the manifest's hashes and page counts, page-1 tokens of {checked} documents as computed, 5 rejected with a reason")
PY
)
if [[ $verdict == ok* ]]; then ok "${verdict#ok }"; else fail "$verdict"; fi
for f in zero-bytes truncated-half random-with-pdf-header png-not-pdf; do
  r=$(q "$dir/p" "SELECT status FROM documents WHERE path LIKE '%/$f.pdf'")
  if [ "$r" = rejected ]; then ok "broken/$f.pdf rejected"; else fail "broken/$f.pdf: '$r'"; fi
done
r=$(q "$dir/p" "SELECT reason FROM documents WHERE path LIKE '%password-test.pdf'")
if grep -q "encrypted" <<<"$r"; then ok "the encrypted PDF rejected: $r"; else fail "encrypted: '$r'"; fi

ctree=5763d9a1d4653a4cef64c04a8cf6bf1dc9d47c1709b1bef122317be83b3129d0
page1=$(q "$dir/p" "SELECT kind || ':' || text FROM blocks WHERE sha256 = '$ctree' AND page = 0 AND kind != 'paragraph'")
if grep -qx "title:ctree: Conditional Inference Trees" <<<"$page1" && grep -qx "heading:1. Overview" <<<"$page1" &&
   grep -qx "heading:2. Introduction" <<<"$page1"
then ok "ctree.pdf page 1: the title and the headings 1. Overview, 2. Introduction"
else fail "ctree.pdf page 1 blocks: $page1"; fi
s=$(q "$dir/p" "SELECT first_page FROM sections WHERE sha256 = '$ctree' AND title = 'Recursive binary partitioning'")
if [ "$s" = 1 ]; then ok "ctree.pdf: the outline's section 'Recursive binary partitioning' starts on page 2"
else fail "ctree.pdf section 3 starts at '$s'"; fi

expect 0 "0 added .* 16 already in the pool" "$longvl" data pool add --pool "$dir/p" "$pdfs" --quiet
mkdir -p "$dir/copy" && cp "$pdfs/ctree.pdf" "$dir/copy/renamed.pdf"
expect 0 "0 added .* 1 duplicates" "$longvl" data pool add --pool "$dir/p" "$dir/copy" --quiet
printf '# evaluation set\n%s\n' "$ctree" >"$dir/eval.txt"
expect 0 "1 added .* 1 excluded" "$longvl" data pool add --pool "$dir/e" "$pdfs/ctree.pdf" "$pdfs/dotguide.pdf" \
  --exclude-hashes "$dir/eval.txt" --quiet
expect 0 "2 added" "$longvl" data pool add --pool "$dir/range" "$pdfs" --min-pages 32 --max-pages 50 --quiet
r=$(q "$dir/range" "SELECT n_pages FROM documents WHERE status = 'accepted' ORDER BY n_pages")
if [ "$(echo $r)" = "34 40" ]; then ok "pages 32-50: ctree (34) and dotguide (40)"; else fail "pages 32-50: $r"; fi
run "$longvl" data pool add --pool "$dir/s0" "$pdfs" --shard 0/2 --quiet
run "$longvl" data pool add --pool "$dir/s1" "$pdfs" --shard 1/2 --quiet
n0=$(q "$dir/s0" "SELECT COUNT(*) FROM documents") n1=$(q "$dir/s1" "SELECT COUNT(*) FROM documents")
if [ $((n0 + n1)) = 16 ] && [ "$n0" -gt 0 ] && [ "$n1" -gt 0 ]; then ok "shards 0/2 + 1/2: $n0 + $n1 = 16 documents"
else fail "shards: $n0 + $n1"; fi
# the shards' pools merged are the one-run pool, row for row; merging again adds nothing;
# add on the merged pool skips every file
expect 0 "s1: [0-9]* documents added" "$longvl" data pool merge --pool "$dir/merged" "$dir/s0" "$dir/s1"
expect 0 "0 documents added (0 accepted), $n1 already in" "$longvl" data pool merge --pool "$dir/merged" "$dir/s1"
verdict=$("$py" - "$dir/merged/pool.sqlite" "$dir/p/pool.sqlite" <<'PY'
import sqlite3, sys
a, b = (sqlite3.connect(f) for f in sys.argv[1:3])
rows = lambda db, t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
diff = [t for t in ("settings", "documents", "pages", "blocks", "sections") if rows(a, t) != rows(b, t)]
n = {t: len(rows(a, t)) for t in ("documents", "pages", "blocks", "sections", "sources")}
print("FAIL differ: " + " ".join(diff) if diff else "ok", n)
PY
)
if [ "${verdict%% *}" = ok ]; then ok "merged shard pools = the one-run pool: ${verdict#ok }"; else fail "merged: $verdict"; fi
expect 0 "0 added .* 16 already in the pool" "$longvl" data pool add --pool "$dir/merged" "$pdfs" --quiet

# killed mid-run, then run again: the same pool as the uninterrupted one
totals() { "$longvl" data pool stats --pool "$1" | grep -v "^index"; }
(timeout -s KILL 0.4 "$longvl" data pool add --pool "$dir/k" "$pdfs" --quiet >/dev/null 2>&1) 2>/dev/null
run "$longvl" data pool add --pool "$dir/k" "$pdfs" --quiet
if [ "$(totals "$dir/k")" = "$(totals "$dir/p")" ]; then ok "killed (SIGKILL at 0.4 s) and re-run: the same totals"
else fail "killed and re-run: $(totals "$dir/k") vs $(totals "$dir/p")"; fi

expect 1 "was made with .*dpi=144.*not .*dpi=72" "$longvl" data pool add --pool "$dir/p" "$pdfs/ctree.pdf" --dpi 72 --quiet
expect 2 "bad flag or value: --shard 2/2" "$longvl" data pool add --pool "$dir/x" "$pdfs" --shard 2/2
expect 2 "give --pool DIR" "$longvl" data pool add "$pdfs"
expect 1 "does not exist" "$longvl" data pool add --pool "$dir/x" "$dir/nowhere"
expect 2 "above --max-pages" "$longvl" data pool add --pool "$dir/x" "$pdfs" --min-pages 9 --max-pages 3
echo "xyz" >"$dir/bad-hashes.txt"
expect 1 "line 1: not a SHA-256" "$longvl" data pool add --pool "$dir/x" "$pdfs" --exclude-hashes "$dir/bad-hashes.txt"
expect 1 "is not a pool" "$longvl" data pool stats --pool "$dir/nowhere"
expect 1 "is not a pool" "$longvl" data pool merge --pool "$dir/merged" "$dir/nowhere"
[ -e "$dir/nowhere" ] && fail "merging a missing pool created it" || ok "merging a missing pool leaves no trace"
run "$longvl" data pool add --pool "$dir/p72" "$pdfs/ctree.pdf" --dpi 72 --quiet
expect 1 "p72 was made with .*dpi=72.*the pool with .*dpi=144" "$longvl" data pool merge --pool "$dir/merged" "$dir/p72"
expect 2 "usage" "$longvl" data pool merge --pool "$dir/merged"
summary
