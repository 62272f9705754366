#!/usr/bin/python3
"""Independent reference for longvl's image processor, used only by tests.

The HuggingFace Qwen2VLImageProcessor's slow path as the spec (section 3) describes it,
run with Debian's Pillow and NumPy: convert to RGB (transparency over white), smart_resize
(Python's round), PIL BICUBIC resize, rescale by 1/255 in float64 then float32, normalise
with the checkpoint's preprocessor_config.json mean and std.

  preprocess_ref.py --hf DIR --image FILE -o OUT.f32 [--min-pixels N] [--max-pixels N]
      writes the normalised [H][W][3] float32 pixels and prints "H W"
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from PIL import Image


def smart_resize(h, w, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 16384):
    if h < factor or w < factor:
        raise ValueError(f"image {w}x{h} is smaller than {factor}")
    if max(h, w) / min(h, w) > 200:
        raise ValueError("aspect ratio over 200")
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def to_rgb(im):
    if im.mode == "RGB":
        return im
    im = im.convert("RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, im).convert("RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("-o", required=True)
    ap.add_argument("--min-pixels", type=int, default=56 * 56)
    ap.add_argument("--max-pixels", type=int, default=14 * 14 * 4 * 16384)
    a = ap.parse_args()
    with open(os.path.join(a.hf, "preprocessor_config.json")) as f:
        cfg = json.load(f)
    im = to_rgb(Image.open(a.image))
    hb, wb = smart_resize(im.height, im.width, min_pixels=a.min_pixels, max_pixels=a.max_pixels)
    im = im.resize((wb, hb), resample=Image.BICUBIC)
    x = (np.asarray(im).astype(np.float64) * (1 / 255)).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    ((x - mean) / std).astype("<f4").tofile(a.o)
    print(hb, wb)


if __name__ == "__main__":
    sys.exit(main())
