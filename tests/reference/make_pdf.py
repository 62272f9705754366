#!/usr/bin/python3
"""Writes a PDF whose content is known: numbered sections (a bold 14 pt heading), pages of
10 pt paragraphs made of generated sentences, about a third of which state one number,
and a figure caption now and then; and a JSON file of the truth: each page's headings,
sentences and captions, and the sections with their pages. The data tests check what
`longvl data` finds and asks against it.

The PDF uses the standard Helvetica fonts (not embedded), one content stream a page, no
outline, so the sections must come from the headings.

usage: make_pdf.py OUT.pdf TRUTH.json [--sections N] [--pages-per-section K] [--seed S]
"""
import json
import random
import sys

WORDS = {
    "team": ["northern", "coastal", "river", "mountain", "valley", "forest", "desert", "island", "harbor", "prairie"],
    "animal": ["herons", "otters", "beavers", "falcons", "turtles", "badgers", "cranes", "lizards", "foxes", "owls"],
    "place": ["Alder", "Birch", "Cedar", "Elm", "Hazel", "Juniper", "Linden", "Maple", "Rowan", "Willow"],
    "season": ["spring", "summer", "autumn", "winter"],
    "quality": ["careful", "urgent", "routine", "thorough", "modest", "costly"],
    "thing": ["the boardwalk", "the weather mast", "the boat shed", "the water pump", "the old footbridge",
              "the radio tower", "the solar panels", "the fence line"],
}


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used = set()

    def pick(self, key):
        return self.rng.choice(WORDS[key])

    def sentence(self, with_number):
        while True:
            if with_number:
                s = (f"During the {self.pick('season')} survey the {self.pick('team')} team counted "
                     f"{self.rng.randint(12, 980)} {self.pick('animal')} near the {self.pick('place')} station.")
            else:
                s = (f"The {self.pick('team')} team reported that {self.pick('thing')} at the "
                     f"{self.pick('place')} station needs {self.pick('quality')} repairs before the "
                     f"{self.pick('season')} season.")
            if s not in self.used:
                self.used.add(s)
                return s


def wrap(text, width):
    lines, line = [], ""
    for w in text.split():
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    return lines + [line] if line else lines


def esc(s):
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def main(argv):
    out, truth_path = argv[0], argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    n_sections = int(opts.get("--sections", 6))
    per = int(opts.get("--pages-per-section", 3))
    g = Generator(int(opts.get("--seed", 1)))
    titles = ["Introduction", "Field Methods", "Survey Results", "Station Upkeep", "Seasonal Patterns",
              "Equipment Notes", "Discussion", "Future Work", "Acknowledgements", "Appendix Tables"]
    pages, sections, figure = [], [], 0
    for k in range(n_sections):
        title = f"{k + 1} {titles[k % len(titles)]}"
        sections.append({"title": title, "first_page": len(pages) + 1, "last_page": len(pages) + per})
        for p in range(per):
            page = {"headings": [title] if p == 0 else [], "sentences": [], "captions": [], "paragraphs": []}
            for _ in range(3 if p == 0 else 4):
                para = [g.sentence(g.rng.random() < 0.35) for _ in range(3)]
                page["sentences"] += para
                page["paragraphs"].append(" ".join(para))
            if g.rng.random() < 0.4:
                figure += 1
                page["captions"].append(f"Figure {figure}: Counts at the {g.pick('place')} station by season.")
            pages.append(page)

    # the PDF: catalog 1, pages 2, fonts 3 (regular) and 4 (bold), then page + content pairs
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>"}
    kids = []
    for i, page in enumerate(pages):
        ops, y = [], 760
        for h in page["headings"]:
            ops.append(f"BT /F2 14 Tf 72 {y} Td ({esc(h)}) Tj ET")
            y -= 34
        for para in page["paragraphs"]:
            for line in wrap(para, 88):
                ops.append(f"BT /F1 10 Tf 72 {y} Td ({esc(line)}) Tj ET")
                y -= 13
            y -= 22
        for c in page["captions"]:
            ops.append(f"BT /F1 9 Tf 72 {y} Td ({esc(c)}) Tj ET")
            y -= 30
        ops.append(f"BT /F1 9 Tf 300 40 Td ({i + 1}) Tj ET")
        stream = "\n".join(ops).encode("latin-1")
        pid, cid = 5 + 2 * i, 6 + 2 * i
        kids.append(pid)
        objs[pid] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {cid} 0 R "
                     f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>").encode()
        objs[cid] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    body, offsets = bytearray(b"%PDF-1.4\n"), {}
    for n in sorted(objs):
        offsets[n] = len(body)
        body += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for n in sorted(objs):
        body += b"%010d 00000 n \n" % offsets[n]
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    open(out, "wb").write(bytes(body))
    for page in pages:
        del page["paragraphs"]
    json.dump({"pages": pages, "sections": sections}, open(truth_path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
