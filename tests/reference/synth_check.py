#!/usr/bin/python3
"""Checks the shards of `longvl data synth` against the pool they were made from (its
SQLite index, read here with Python's sqlite3) and, for a generated PDF, against the
truth make_pdf.py wrote. Independent of longvl's code: only the files are read.

Every instance:
  - input_ids/labels as train-longpt reads them; one <|image_pad|> per image, each
    between <|vision_start|> and <|vision_end|>; the labelled tokens are one run at the
    end, closed by <|im_end|>;
  - its images are the window's pages of its document, in order; the segment and the
    evidence pages lie in the window; a segment has at most 15 pages (ocr-full:
    the whole window);
  - "tokens" is the pool's tokens of the window's pages plus the text tokens;
  - its question holds its anchor (extraction and reasoning).
With --truth (a generated PDF, pool of that one document):
  - every piece of evidence is a heading, sentence or caption of its page;
  - cloze: head + answer is the sentence; cloze-multi likewise for each;
  - sum / difference / larger: the numbers of the evidence sentences give the answer;
  - headings / order: the truth's headings of the segment, in order;
  - a section anchor names sections whose pages are the segment's.
Prints a summary; exits 1 on the first failure (printed).

usage: synth_check.py POOL.sqlite SHARD.jsonl [--truth TRUTH.json]
"""
import json
import re
import sqlite3
import sys

VISION_START, VISION_END, IMAGE_PAD, IM_END = 151652, 151653, 151655, 151645


def fail(x, why):
    print(f"FAIL instance {x.get('id')} ({x.get('rule')}): {why}")
    sys.exit(1)


def numbers(s):
    return [float(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", s)]


def check_truth(x, truth):
    pages = truth["pages"]
    on_page = lambda p: pages[p - 1]["headings"] + pages[p - 1]["sentences"] + pages[p - 1]["captions"]
    for e in x["evidence"]:
        if x["task"].startswith("ocr"):
            if not any(e["text"] in t or t in e["text"] for t in on_page(e["page"])):
                fail(x, f"OCR evidence not on page {e['page']}: {e['text'][:80]}")
        elif e["text"] not in on_page(e["page"]):
            fail(x, f"evidence not on page {e['page']}: {e['text'][:80]}")
    q, a, rule, ev = x["question"], x["answer"], x["rule"], [e["text"] for e in x["evidence"]]
    if rule == "cloze":
        head = re.search(r'begins "(.*)"\. How', q).group(1)
        if f"{head} {a}" != ev[0]:
            fail(x, "head + answer is not the sentence")
    elif rule == "cloze-multi":
        heads = re.findall(r'\d\. "(.*) \.\.\."', q)
        rests = [re.sub(r"^\d\. ", "", r) for r in a.split("\n")]
        if [f"{h} {r}" for h, r in zip(heads, rests)] != ev or len(heads) != len(ev):
            fail(x, "heads + answers are not the sentences")
    elif rule in ("sum", "difference", "larger"):
        n1, n2 = numbers(ev[0])[0], numbers(ev[1])[0]
        want = {"sum": n1 + n2, "difference": n1 - n2, "larger": max(n1, n2)}[rule]
        if abs(numbers(a)[-1] - want) > 1e-9 and not a.rstrip(".").endswith(f"{want:g}"):
            fail(x, f"answer {a!r}, want {want}")
    elif rule in ("headings", "order"):
        first, last = x["segment"]
        heads = [h for p in range(first, last + 1) for h in pages[p - 1]["headings"]]
        if rule == "headings" and a.split("\n") != [f"{i + 1}. {h}" for i, h in enumerate(heads)]:
            fail(x, f"headings {a!r}, want {heads}")
        if rule == "order":
            h1, h2 = re.findall(r"heading '([^']*)'", q)
            if a != f"'{h1 if heads.index(h1) < heads.index(h2) else h2}' comes first.":
                fail(x, f"order answer {a!r}")
    m = re.search(r"in the sections? (?:from )?'([^']*)'(?: to '([^']*)')?", x["anchor"])
    if m:
        secs = {s["title"]: s for s in truth["sections"]}
        s1, s2 = secs[m.group(1)], secs[m.group(2) or m.group(1)]
        if [s1["first_page"], s2["last_page"]] != x["segment"]:
            fail(x, f"anchor {x['anchor']!r} is pages {s1['first_page']}-{s2['last_page']}, segment {x['segment']}")


def main(argv):
    db = sqlite3.connect(argv[0])
    truth = json.load(open(argv[argv.index("--truth") + 1])) if "--truth" in argv else None
    tokens = {}
    for sha, page, t in db.execute("SELECT sha256, page, tokens FROM pages"):
        tokens[(sha, page + 1)] = t
    paths = dict(db.execute("SELECT sha256, path FROM documents"))
    n = 0
    for line in open(argv[1], encoding="utf-8"):
        x = json.loads(line)
        n += 1
        ids, labels, images = x["input_ids"], x["labels"], x["images"]
        if len(ids) != len(labels) or any(l not in (-100, i) for i, l in zip(ids, labels)):
            fail(x, "labels")
        answer = [i for i, l in enumerate(labels) if l != -100]
        if not answer or answer != list(range(answer[0], len(ids))) or ids[-1] != IM_END:
            fail(x, "the answer is not one run at the end closed by <|im_end|>")
        pads = [i for i, t in enumerate(ids) if t == IMAGE_PAD]
        if len(pads) != len(images) or any(ids[i - 1] != VISION_START or ids[i + 1] != VISION_END for i in pads):
            fail(x, "image tokens")
        first, last = x["pages"]
        if [(im["pdf"], im["page"]) for im in images] != [(paths[x["doc"]], p) for p in range(first, last + 1)]:
            fail(x, "images are not the window's pages")
        s0, s1 = x["segment"]
        if not first <= s0 <= s1 <= last or (s1 - s0 + 1 > 15 and x["task"] != "ocr-full"):
            fail(x, f"segment {x['segment']} in window {x['pages']}")
        if any(not first <= e["page"] <= last for e in x["evidence"]):
            fail(x, "evidence outside the window")
        want = sum(tokens[(x["doc"], p)] for p in range(first, last + 1)) + len(ids) - 3 * len(images)
        if x["tokens"] != want:
            fail(x, f"tokens {x['tokens']}, pool gives {want}")
        if not x["task"].startswith("ocr") and x["anchor"].lower() not in x["question"].lower():
            fail(x, "the question lacks its anchor")
        if truth:
            check_truth(x, truth)
    print(f"synth_check: {n} instances ok" + (" (against the generated PDF's truth)" if truth else ""))
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
