#!/usr/bin/python3
"""Independent reference for longvl's Qwen2.5-VL text model, used only by tests.

Written from the HuggingFace semantics (transformers' modeling_qwen2_5_vl.py as the
spec describes it), in float64 NumPy, reading the HuggingFace checkpoint folder
(config.json + safetensors) directly: it shares no code and no file format with the C
side, which reads the converted GGUF.

  qwen25vl_ref.py logits --hf DIR --tokens 1,2,151652,img,151653,3 \
                  [--image-embd FILE.f32 NX NY ...] -o OUT.f32
      the logits of every position, float32 [n_tokens][vocab]; `img` expands to NX*NY
      <|image_pad|> tokens whose embeddings are the file's rows (NY rows of NX merged
      tokens); images are found as HuggingFace finds them, after <|vision_start|>;
      --rope-theta B replaces config's rope_theta, --yarn FACTOR ORIG_CTX applies
      rope_scaling {"type": "yarn", "factor": FACTOR, "original_max_position_embeddings": ORIG_CTX}
  qwen25vl_ref.py vision --hf DIR --pixels FILE.f32 H W -o OUT.f32
      the merged vision embeddings [(H/28)*(W/28)][out_hidden] of normalised [H][W][3]
      pixels: the processor's patch rows, then the tower as HuggingFace runs it
  qwen25vl_ref.py compare GOT.f32 WANT.f32 --atol A --rtol R
      max |got - want| and that over the RMS of want; exit 1 if either bound fails
  qwen25vl_ref.py selftest
      get_rope_index on the spec's worked example (section 6)
"""
import argparse
import json
import math
import os
import sys

import numpy as np

VISION_START, IMAGE_PAD = 151652, 151655


# --------------------------------------------------------------------------------------
# checkpoint

def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        base = 8 + n
        data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.asarray(data[base + a: base + b])
        dt = info["dtype"]
        if dt == "F32":
            v = raw.view("<f4").astype(np.float64)
        elif dt == "F16":
            v = raw.view("<f2").astype(np.float64)
        elif dt == "BF16":
            v = (raw.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {dt}")
        out[name] = v.reshape(info["shape"])
    return out


def load_checkpoint(d):
    tensors = {}
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for f in files:
        tensors.update(read_safetensors(os.path.join(d, f)))
    # both name layouts: model.* / visual.* and model.language_model.* / model.visual.*
    text, vision = {}, {}
    for k, v in tensors.items():
        if k.startswith("visual.") or k.startswith("model.visual."):
            vision[k[k.index("visual.") + len("visual."):]] = v
            continue
        if k.startswith("model.language_model."):
            text[k[len("model.language_model."):]] = v
        elif k.startswith("model.") and not k.startswith("model.visual."):
            text[k[len("model."):]] = v
        elif k == "lm_head.weight":
            text[k] = v
    cfg = json.load(open(os.path.join(d, "config.json")))
    tc = cfg.get("text_config", cfg)
    rope = tc.get("rope_scaling") or tc.get("rope_parameters") or cfg.get("rope_scaling") or {}
    hp = {
        "layers": tc["num_hidden_layers"], "heads": tc["num_attention_heads"],
        "kv_heads": tc["num_key_value_heads"], "hidden": tc["hidden_size"],
        "eps": tc.get("rms_norm_eps", 1e-6), "theta": tc.get("rope_theta", rope.get("rope_theta", 1e6)),
        "sections": rope["mrope_section"],
        "tied": cfg.get("tie_word_embeddings", tc.get("tie_word_embeddings", False)),
    }
    return hp, text


def load_vision(d):
    tensors = {}
    index = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    for f in files:
        for k, v in read_safetensors(os.path.join(d, f)).items():
            if k.startswith("visual.") or k.startswith("model.visual."):
                tensors[k[k.index("visual.") + len("visual."):]] = v
    vc = json.load(open(os.path.join(d, "config.json")))["vision_config"]
    return vc, tensors


# --------------------------------------------------------------------------------------
# positions: transformers' get_rope_index for one unpadded sequence of images

def get_rope_index(ids, image_grid_thw):
    ids = list(ids)
    vs = [i for i, t in enumerate(ids) if t == VISION_START]
    image_nums = sum(1 for i in vs if i + 1 < len(ids) and ids[i + 1] == IMAGE_PAD)
    parts, st = [], 0
    for k in range(image_nums):
        ed = ids.index(IMAGE_PAD, st)
        t, h, w = image_grid_thw[k]
        gt, gh, gw = t, h // 2, w // 2
        text_len = ed - st
        st_idx = parts[-1].max() + 1 if parts else 0
        parts.append(np.broadcast_to(np.arange(text_len), (3, text_len)) + st_idx)
        t_index = np.repeat(np.arange(gt) * 0, gh * gw)   # still images: second_per_grid_t = 0
        h_index = np.tile(np.repeat(np.arange(gh), gw), gt)
        w_index = np.tile(np.arange(gw), gt * gh)
        parts.append(np.stack([t_index, h_index, w_index]) + text_len + st_idx)
        st = ed + gt * gh * gw
    if st < len(ids):
        st_idx = parts[-1].max() + 1 if parts else 0
        text_len = len(ids) - st
        parts.append(np.broadcast_to(np.arange(text_len), (3, text_len)) + st_idx)
    return np.concatenate(parts, axis=1)   # [3, n]


# --------------------------------------------------------------------------------------
# forward

def rms_norm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def yarn_inv_freq(theta, head_dim, factor, orig_ctx, beta_fast=32, beta_slow=1):
    """transformers' _compute_yarn_parameters (factor taken as given, truncate=True)."""
    def correction_dim(rotations):
        return head_dim * math.log(orig_ctx / (rotations * 2 * math.pi)) / (2 * math.log(theta))
    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), head_dim - 1)
    if low == high:
        high += 0.001
    pos_freqs = theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    ramp = np.clip((np.arange(head_dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    extrapolation_factor = 1 - ramp
    inv = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor
    attention_factor = 0.1 * math.log(factor) + 1 if factor > 1 else 1.0
    return inv, attention_factor


def mrope_cos_sin(pos, head_dim, theta, sections, yarn=None):
    # per stream: 64 angles written twice (128 wide); then dims are cut into chunks
    # sections*2 and chunk c is taken from stream c % 3 (apply_multimodal_rotary_pos_emb);
    # YaRN scales cos and sin by its attention factor
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    scale = 1.0
    if yarn:
        inv, scale = yarn_inv_freq(theta, head_dim, *yarn)
    freqs = pos[:, :, None].astype(np.float64) * inv[None, None, :]      # [3, n, hd/2]
    emb = np.concatenate([freqs, freqs], axis=-1)                        # [3, n, hd]
    cos, sin = np.cos(emb) * scale, np.sin(emb) * scale
    chunks = list(sections) * 2
    bounds = np.cumsum([0] + chunks)
    pick = lambda a: np.concatenate([a[c % 3, :, bounds[c]:bounds[c + 1]] for c in range(len(chunks))], axis=-1)
    return pick(cos), pick(sin)                                          # [n, hd]


def text_forward(hp, w, ids, image_rows, image_grid_thw):
    n = len(ids)
    x = w["embed_tokens.weight"][np.asarray(ids)].copy()
    pads = [i for i, t in enumerate(ids) if t == IMAGE_PAD]
    if len(pads) != len(image_rows):
        raise SystemExit(f"{len(pads)} image pad tokens but {len(image_rows)} image rows")
    if pads:
        x[pads] = image_rows
    pos = get_rope_index(ids, image_grid_thw)
    H, nh, nkv = hp["hidden"], hp["heads"], hp["kv_heads"]
    hd = H // nh
    cos, sin = mrope_cos_sin(pos, hd, hp["theta"], hp["sections"], hp.get("yarn"))
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(hp["layers"]):
        p = f"layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], hp["eps"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]).reshape(n, nh, hd)
        k = (h @ w[p + "self_attn.k_proj.weight"].T + w[p + "self_attn.k_proj.bias"]).reshape(n, nkv, hd)
        v = (h @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]).reshape(n, nkv, hd)
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
        rep = nh // nkv                                  # repeat_kv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", s, v).reshape(n, H)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], hp["eps"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["norm.weight"], hp["eps"])
    head = w["embed_tokens.weight"] if hp["tied"] else w["lm_head.weight"]
    return x @ head.T


# --------------------------------------------------------------------------------------
# vision tower: Qwen2VLImageProcessor's patch rows, then Qwen2_5_VisionTransformer

def patchify(pixels, patch=14, merge=2, temporal=2):
    """[H][W][3] normalised pixels -> pixel_values [gh*gw, 3*2*14*14], as the processor."""
    H, W, C = pixels.shape
    frames = np.repeat(pixels.transpose(2, 0, 1)[None], temporal, axis=0)   # a still image: 2 equal frames
    gt, gh, gw = 1, H // patch, W // patch
    p = frames.reshape(gt, temporal, C, gh // merge, merge, patch, gw // merge, merge, patch)
    p = p.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return p.reshape(gt * gh * gw, C * temporal * patch * patch), (gt, gh, gw)


def rot_pos_emb(grid, head_dim):
    t, h, w = grid
    hpos = np.broadcast_to(np.arange(h)[:, None], (h, w)).reshape(h // 2, 2, w // 2, 2).transpose(0, 2, 1, 3).flatten()
    wpos = np.broadcast_to(np.arange(w)[None, :], (h, w)).reshape(h // 2, 2, w // 2, 2).transpose(0, 2, 1, 3).flatten()
    pos = np.tile(np.stack([hpos, wpos], axis=-1), (t, 1))
    dim = head_dim // 2
    inv = 1.0 / 10000 ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.outer(np.arange(max(h, w)), inv)
    return table[pos].reshape(len(pos), -1)          # [n, head_dim / 2]: row angles, then column angles


def get_window_index(grid, window_size, merge, patch):
    ws = window_size // merge // patch
    t, h, w = grid
    lh, lw = h // merge, w // merge
    index = np.arange(t * lh * lw).reshape(t, lh, lw)
    pad_h, pad_w = ws - lh % ws, ws - lw % ws
    nwh, nww = (lh + pad_h) // ws, (lw + pad_w) // ws
    padded = np.pad(index, ((0, 0), (0, pad_h), (0, pad_w)), constant_values=-100)
    padded = padded.reshape(t, nwh, ws, nww, ws).transpose(0, 1, 3, 2, 4).reshape(t, nwh * nww, ws, ws)
    seqlens = (padded != -100).sum(axis=(2, 3)).reshape(-1)
    flat = padded.reshape(-1)
    cu = [0] + list(np.cumsum(seqlens) * merge * merge)
    cu = [c for i, c in enumerate(cu) if i == 0 or c != cu[i - 1]]   # unique_consecutive
    return flat[flat != -100], cu


def vision_forward(vc, w, pixels):
    E, nh = vc["hidden_size"], vc["num_heads"]
    hd = E // nh
    merge, patch = vc.get("spatial_merge_size", 2), vc.get("patch_size", 14)
    eps = 1e-6
    x_in, grid = patchify(pixels, patch, merge, vc.get("temporal_patch_size", 2))
    n = len(x_in)
    x = x_in @ w["patch_embed.proj.weight"].reshape(E, -1).T         # Conv3d, stride = kernel, no bias
    rpe = rot_pos_emb(grid, hd)
    window_index, cu_window = get_window_index(grid, vc.get("window_size", 112), merge, patch)
    unit = merge * merge
    x = x.reshape(n // unit, unit, -1)[window_index].reshape(n, -1)
    rpe = rpe.reshape(n // unit, unit, -1)[window_index].reshape(n, -1)
    emb = np.concatenate([rpe, rpe], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)
    cu_full = [0, n]
    for l in range(vc["depth"]):
        p = f"blocks.{l}."
        cu = cu_full if l in vc["fullatt_block_indexes"] else cu_window
        h = rms_norm(x, w[p + "norm1.weight"], eps)
        qkv = (h @ w[p + "attn.qkv.weight"].T + w[p + "attn.qkv.bias"]).reshape(n, 3, nh, hd)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
        o = np.zeros_like(q)
        for a, b in zip(cu[:-1], cu[1:]):
            s = np.einsum("qhd,khd->hqk", q[a:b], k[a:b]) / np.sqrt(hd)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            o[a:b] = np.einsum("hqk,khd->qhd", s, v[a:b])
        x = x + o.reshape(n, E) @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"]
        h = rms_norm(x, w[p + "norm2.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T + w[p + "mlp.gate_proj.bias"]
        u = h @ w[p + "mlp.up_proj.weight"].T + w[p + "mlp.up_proj.bias"]
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T + w[p + "mlp.down_proj.bias"]
    m = rms_norm(x, w["merger.ln_q.weight"], eps).reshape(n // unit, unit * E)
    m = m @ w["merger.mlp.0.weight"].T + w["merger.mlp.0.bias"]
    m = 0.5 * m * (1 + np.vectorize(math.erf)(m / math.sqrt(2)))      # exact GELU
    m = m @ w["merger.mlp.2.weight"].T + w["merger.mlp.2.bias"]
    return m[np.argsort(window_index)]


# --------------------------------------------------------------------------------------
# command line

def cmd_logits(a):
    hp, w = load_checkpoint(a.hf)
    if a.rope_theta:
        hp["theta"] = a.rope_theta
    if a.yarn:
        hp["yarn"] = (a.yarn[0], a.yarn[1])
    images = [(f, int(nx), int(ny)) for f, nx, ny in (a.image_embd or [])]
    ids, rows, grids, k = [], [], [], 0
    for item in a.tokens.split(","):
        if item == "img":
            f, nx, ny = images[k]
            k += 1
            e = np.fromfile(f, dtype="<f4").astype(np.float64).reshape(nx * ny, hp["hidden"])
            ids += [IMAGE_PAD] * (nx * ny)
            rows.append(e)
            grids.append((1, 2 * ny, 2 * nx))
        else:
            ids.append(int(item))
    logits = text_forward(hp, w, ids, np.concatenate(rows) if rows else np.zeros((0, hp["hidden"])), grids)
    logits.astype("<f4").tofile(a.o)
    print(f"reference: {len(ids)} tokens, {len(grids)} images -> {a.o}")


def cmd_vision(a):
    vc, w = load_vision(a.hf)
    H, W = int(a.pixels[1]), int(a.pixels[2])
    pixels = np.fromfile(a.pixels[0], dtype="<f4").astype(np.float64).reshape(H, W, 3)
    out = vision_forward(vc, w, pixels)
    out.astype("<f4").tofile(a.o)
    print(f"reference: {H} x {W} pixels -> {out.shape[0]} tokens x {out.shape[1]} -> {a.o}")


def cmd_compare(a):
    got = np.fromfile(a.got, dtype="<f4").astype(np.float64)
    want = np.fromfile(a.want, dtype="<f4").astype(np.float64)
    if got.shape != want.shape:
        print(f"sizes differ: {got.size} vs {want.size} values")
        return 1
    diff = np.abs(got - want).max()
    rms = np.sqrt(np.mean(want * want))
    ok = diff <= a.atol and diff / rms <= a.rtol
    print(f"{a.label}: {want.size} values, max |diff| {diff:.3g} (bound {a.atol:g}), "
          f"/ rms {rms:.3g} = {diff / rms:.3g} (bound {a.rtol:g}): {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def cmd_selftest(_):
    # spec section 6: 3 text, <vs>, image A (grid 1x4x6), <ve>, <vs>, image B (1x4x4), <ve>, 2 text
    ids = [1, 2, 3, VISION_START] + [IMAGE_PAD] * 6 + [151653, VISION_START] + [IMAGE_PAD] * 4 + [151653, 4, 5]
    pos = get_rope_index(ids, [(1, 4, 6), (1, 4, 4)])
    want = np.array([
        [0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 7, 8, 9, 9, 9, 9, 11, 12, 13],
        [0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 7, 8, 9, 9, 10, 10, 11, 12, 13],
        [0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 9, 10, 11, 12, 13]])
    ok = np.array_equal(pos, want)
    print(f"get_rope_index on the spec's example: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("--hf", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--image-embd", nargs=3, action="append")
    p.add_argument("--rope-theta", type=float)
    p.add_argument("--yarn", nargs=2, type=float)
    p.add_argument("-o", required=True)
    p = sub.add_parser("vision")
    p.add_argument("--hf", required=True)
    p.add_argument("--pixels", nargs=3, required=True)
    p.add_argument("-o", required=True)
    p = sub.add_parser("compare")
    p.add_argument("got")
    p.add_argument("want")
    p.add_argument("--atol", type=float, required=True)
    p.add_argument("--rtol", type=float, required=True)
    p.add_argument("--label", default="logits")
    sub.add_parser("selftest")
    a = ap.parse_args()
    return {"logits": cmd_logits, "vision": cmd_vision, "compare": cmd_compare, "selftest": cmd_selftest}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
