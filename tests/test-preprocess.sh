#!/usr/bin/env bash
# The image processor against Pillow (tests/reference/preprocess_ref.py: HF's slow
# Qwen2VLImageProcessor with Debian's python3-pil): PNG (RGB, gray, palette, RGBA over
# white) and JPEG files, upscaled, downscaled hard (antialiased), and a PDF page that
# MuPDF rendered. The bound is exact: the same float32 bytes, since both resize with the
# same integer arithmetic and normalise with the same float32 operations. Also: page
# sizes at 144 dpi as the spec's table gives them, encrypted PDFs, broken PDFs.
# usage: test-preprocess.sh LONGVL TOKENIZER_DIR PDF_DIR
longvl=$1
tok=$2
pdfs=$3
ref="$(dirname "$0")/reference/preprocess_ref.py"
py=${LONGVL_PYTHON:-/usr/bin/python3}
. "$(dirname "$0")/test-lib.sh" preprocess

if ! "$py" -c "import numpy, PIL" 2>/dev/null; then
  echo "FAIL $py lacks NumPy or Pillow: install python3-numpy python3-pil (scripts/install-deps.sh does)"; exit 1
fi
f32_model "$dir/hf" "$dir/m" --preset tiny --seed 3
mm="$dir/m-mmproj.gguf"
"$py" - "$dir" <<'PY'
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
r = np.random.default_rng(1)
a = (r.random((333, 517, 3)) * 255).astype(np.uint8)
a[40:200, 60:300] = (250, 20, 90)                       # flat areas and sharp edges
a[:, 400:] = np.linspace(0, 255, 117, dtype=np.uint8)[None, :, None]
Image.fromarray(a).save(f"{d}/rgb.png")
Image.fromarray(a).save(f"{d}/rgb.jpg", quality=90)
Image.fromarray(a[:, :, 1]).save(f"{d}/gray.png")
alpha = (r.random((333, 517, 1)) * 255).astype(np.uint8)
Image.fromarray(np.concatenate([a, alpha], axis=2), "RGBA").save(f"{d}/rgba.png")
Image.fromarray(a).convert("P").save(f"{d}/palette.png")
Image.fromarray(a[:60, :3000 // 6]).resize((1500, 41)).save(f"{d}/wide.png")   # 41 rows: rounds up to 56
Image.new("RGB", (20, 100), (9, 9, 9)).save(f"{d}/tiny.png")                 # under 28 pixels wide
PY

# same F32 bytes as the reference: cmp, and the two sizes printed
same_pixels() {   # LABEL IMAGE [flags...]
  local label=$1 img=$2; shift 2
  local got want
  got=$("$longvl" vision --mmproj "$mm" --image "$img" -o "$dir/e.f32" --dump-pixels "$dir/got.f32" "$@" 2>"$dir/err") || {
    fail "$label: longvl vision: $(cat "$dir/err")"; return; }
  want=$("$py" "$ref" --hf "$dir/hf" --image "$img" -o "$dir/want.f32" "$@" 2>&1) || { fail "$label: reference: $want"; return; }
  if [ "$got" = "$want" ] && cmp -s "$dir/got.f32" "$dir/want.f32"; then ok "$label: $got, pixels identical"
  else fail "$label: size $got vs $want, or pixels differ ($(cmp "$dir/got.f32" "$dir/want.f32" 2>&1 | head -c 100))"; fi
}
for f in rgb.png rgb.jpg gray.png rgba.png palette.png wide.png; do
  same_pixels "$f" "$dir/$f"
  same_pixels "$f shrunk to 40000 px" "$dir/$f" --max-pixels 40000
done
same_pixels "rgb.png grown to 1e6 px" "$dir/rgb.png" --min-pixels 1000000

# a PDF page: our rendering saved as PNG, then both processors on that PNG
page_px=$("$longvl" vision --mmproj "$mm" --pdf "$pdfs/ctree.pdf" --page 1 -o "$dir/e.f32" --save-image "$dir/page.png" \
          --dump-pixels "$dir/page.f32" 2>"$dir/err")
if grep -q "image 1191 x 1684 resized to 1204 x 1680" "$dir/err" && [ "$page_px" = "1680 1204" ]; then
  ok "ctree.pdf page 1 at 144 dpi: 1191 x 1684 -> 1204 x 1680 (the spec's A4 row)"
else fail "ctree.pdf page 1: $page_px, $(cat "$dir/err")"; fi
want=$("$py" "$ref" --hf "$dir/hf" --image "$dir/page.png" -o "$dir/want.f32")
if [ "$want" = "$page_px" ] && cmp -s "$dir/page.f32" "$dir/want.f32"; then ok "rendered page: pixels identical to the reference"
else fail "rendered page: $want vs $page_px or pixels differ"; fi
expect 0 "resized to 588 x 840" "$longvl" vision --mmproj "$mm" --pdf "$pdfs/ctree.pdf" --page 2 --dpi 72 -o "$dir/e.f32"

# encrypted, broken, missing
pw="$pdfs/pdftools-password-test.pdf"
expect 1 "encrypted: it needs a password" "$longvl" vision --mmproj "$mm" --pdf "$pw" --page 1 -o "$dir/x.f32"
expect 1 "the password is wrong" "$longvl" vision --mmproj "$mm" --pdf "$pw" --page 1 --password nope -o "$dir/x.f32"
expect 0 "tokens" "$longvl" vision --mmproj "$mm" --pdf "$pw" --page 1 --password test -o "$dir/pw.f32"
for f in "$pdfs"/broken/*.pdf; do
  expect 1 "$(basename "$f")" "$longvl" vision --mmproj "$mm" --pdf "$f" --page 1 -o "$dir/x.f32"
done
expect 1 "page 99 does not exist (the document has 34)" "$longvl" vision --mmproj "$mm" --pdf "$pdfs/ctree.pdf" --page 99 -o "$dir/x.f32"
expect 1 "cannot load the image" "$longvl" vision --mmproj "$mm" --image "$pdfs/ctree.pdf" -o "$dir/x.f32"
expect 1 "cannot load the image" "$longvl" vision --mmproj "$mm" --image "$dir/none.png" -o "$dir/x.f32"
expect 2 "exactly one of" "$longvl" vision --mmproj "$mm" --image "$dir/rgb.png" --pdf "$pw" -o "$dir/x.f32"
expect 2 "--pdf needs --page" "$longvl" vision --mmproj "$mm" --pdf "$pw" -o "$dir/x.f32"
expect 2 "--dpi takes" "$longvl" vision --mmproj "$mm" --pdf "$pw" --page 1 --dpi 0 -o "$dir/x.f32"
expect 1 "smaller\|at least 28" "$longvl" vision --mmproj "$mm" --image "$dir/tiny.png" -o "$dir/x.f32"
if [ -e "$dir/x.f32" ] || ls "$dir"/*.tmp >/dev/null 2>&1; then fail "a failed run left an output file"; else ok "failed runs left no output"; fi
summary
