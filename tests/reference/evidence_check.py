#!/usr/bin/python3
"""The golden evidence test's reference: for every instance of train-longpt JSONL shards
made by `longvl data synth`, each piece of evidence text must be on its evidence page as
poppler's pdftotext (an independent PDF text extractor) reads that page.

The two extractors order and space a page's text differently (small caps, sub- and
superscripts, table-of-contents leaders), so a piece is found when its text, with all
whitespace removed, compatibility characters unfolded (NFKC) and words hyphenated at a
line end joined (on both sides: pdftotext joins some itself), is a substring of the
page's ("exact"), or else when every one of its words (ASCII letter/digit runs, and
each other letter alone) is among the page's words ("words"). So that this cannot pass
by accident, the same test against the page five pages away (a negative control) must
fail for nearly all pieces of four words or more.

The questions' evidence (quoted sentences, headings, captions) must all be found. The
OCR tasks' evidence is a transcribed block, as MuPDF's text layer reads it; where that
differs from poppler's (a glyph with no Unicode mapping, a combining accent, symbol
tables) it is not found, so for those 95% is the bound.

Prints one line per mismatch and a summary; exits 1 on a question's mismatch, on OCR
below 95%, on fewer than --min pieces checked, or when the control matches more than 5%
of the time.

usage: evidence_check.py SHARD.jsonl... [--min N]
"""
import json
from collections import Counter
import re
import subprocess
import sys
import unicodedata


def unbreak(text):
    """NFKC, and words hyphenated at a line end joined (pdftotext joins some itself)"""
    return re.sub(r"-\s+", "", unicodedata.normalize("NFKC", text))


def norm(text):
    return re.sub(r"\s+", "", unbreak(text))


def words(text):
    text = unbreak(text).lower()
    return re.findall(r"[a-z0-9]+|[^\W\d_a-z]", text)


def found(evidence, page):
    """'exact', 'words' or None"""
    if norm(evidence) in page[0]:
        return "exact"
    ws = words(evidence)
    if ws and all(page[1].get(w, 0) >= n for w, n in Counter(ws).items()):
        return "words"
    return None


def main(argv):
    files, min_items = [], 1
    i = 0
    while i < len(argv):
        if argv[i] == "--min":
            min_items = int(argv[i + 1])
            i += 2
        else:
            files.append(argv[i])
            i += 1
    pages = {}   # (pdf, page) -> normalised text

    def page_text(pdf, page):
        key = (pdf, page)
        if key not in pages:
            out = subprocess.run(["pdftotext", "-q", "-f", str(page), "-l", str(page), "-enc", "UTF-8", pdf, "-"],
                                 capture_output=True, check=True).stdout.decode("utf-8", "replace")
            pages[key] = (norm(out), Counter(words(out)))
        return pages[key]

    checked = bad = instances = exact = control = control_hits = ocr = ocr_bad = 0
    for f in files:
        for line in open(f, encoding="utf-8"):
            x = json.loads(line)
            instances += 1
            pdf = x["images"][0]["pdf"]
            first, last = x["pages"]
            for e in x["evidence"]:
                checked += 1
                how = found(e["text"], page_text(pdf, e["page"])) if first <= e["page"] <= last else None
                exact += how == "exact"
                other = e["page"] + 5 if e["page"] + 5 <= x["doc_pages"] else e["page"] - 5
                if len(words(e["text"])) >= 4 and other >= 1:
                    control += 1
                    control_hits += found(e["text"], page_text(pdf, other)) is not None
                is_ocr = x["task"].startswith("ocr")
                ocr += is_ocr
                if not how:
                    bad += 1
                    ocr_bad += is_ocr
                    print(f"MISMATCH instance {x['id']} ({x['rule']}) {pdf} page {e['page']}: {e['text'][:100]!r}")
    print(f"evidence: {checked - bad} of {checked} pieces found on their pages ({exact} exact, {checked - bad - exact} "
          f"by words; {instances} instances, {len(pages)} pages read by pdftotext); control: {control_hits} of "
          f"{control} found 5 pages away")
    print(f"questions: {checked - ocr - (bad - ocr_bad)} of {checked - ocr} found; OCR: {ocr - ocr_bad} of {ocr} found")
    good = bad == ocr_bad and ocr_bad * 20 <= ocr and checked >= min_items and control_hits * 20 <= control
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
