#!/usr/bin/env python3
"""The PyTorch reference for bench-train.sh: one LongPT training step of a Qwen2.5-VL
text model of the same shape as ours (random f32 weights), on one causal sequence of N
tokens with the loss on the answer rows, then AdamW. Prints tokens/s of the second step
(the first warms up) and the process's peak RSS, or with --device cuda the peak GPU
memory PyTorch allocated (f32 matmuls without TF32, as PyTorch's default, so the
arithmetic is the same as longvl's f32 Vulkan shaders). --steps 1 times the first step
alone, for lengths where a second would take too long (its warm-up is then in the time).

Attention is computed in chunks of query rows, each chunk recomputed in the backward pass
(torch.utils.checkpoint), because Debian's torch 1.13 has no fused attention and the
N x N scores of a 32K sequence alone would take 16 GiB a head group: this is the same
O(N)-memory scheme as longvl's fused chunked attention, so the ratio compares kernels,
not memory plans. --checkpoint block also recomputes each decoder block in the backward
pass (longvl's --checkpoint-every 1). --attn-chunk sets the rows of a chunk (1024): its
score block is rows x N x heads floats, held several times over by the allocator, so at
128K tokens a smaller chunk keeps the small model's step within a 24 GiB machine.

usage: torch_train_ref.py --vocab V --hidden H --layers L --heads NH --kv-heads NKV
                          --ffn F --tokens N [--checkpoint block|none] [--threads T]
                          [--device cpu|cuda] [--steps 2|1] [--attn-chunk ROWS]
"""
import argparse
import resource
import time

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

def rms_norm(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):   # x [heads, N, D]: pairs (i, i + D/2), as Qwen2's rotate_half
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), -1)


def attn_chunk(q, k, v, start):
    """Causal attention of query rows [start, start + rows) over keys [0, start + rows)."""
    rows = q.shape[1]
    end = start + rows
    s = torch.matmul(q, k[:, :end].transpose(1, 2)) / (q.shape[-1] ** 0.5)
    mask = torch.arange(end, device=q.device).unsqueeze(0) > torch.arange(start, end, device=q.device).unsqueeze(1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(s, -1), v[:, :end])


def attention(q, k, v, chunk):
    outs = []
    for start in range(0, q.shape[1], chunk):
        qc = q[:, start:start + chunk]
        outs.append(checkpoint(attn_chunk, qc, k, v, start, use_reentrant=False))
    return torch.cat(outs, 1)


class Block(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        H, D = a.hidden, a.hidden // a.heads
        self.a, self.D = a, D
        self.ln1 = torch.nn.Parameter(torch.ones(H))
        self.ln2 = torch.nn.Parameter(torch.ones(H))
        self.q = torch.nn.Linear(H, a.heads * D)
        self.k = torch.nn.Linear(H, a.kv_heads * D)
        self.v = torch.nn.Linear(H, a.kv_heads * D)
        self.o = torch.nn.Linear(a.heads * D, H, bias=False)
        self.gate = torch.nn.Linear(H, a.ffn, bias=False)
        self.up = torch.nn.Linear(H, a.ffn, bias=False)
        self.down = torch.nn.Linear(a.ffn, H, bias=False)

    def forward(self, x, cos, sin):
        a, D, N = self.a, self.D, x.shape[0]
        h = rms_norm(x, self.ln1)
        q = rope(self.q(h).view(N, a.heads, D).transpose(0, 1), cos, sin)
        k = rope(self.k(h).view(N, a.kv_heads, D).transpose(0, 1), cos, sin)
        v = self.v(h).view(N, a.kv_heads, D).transpose(0, 1)
        group = a.heads // a.kv_heads
        k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
        o = attention(q, k, v, a.attn_chunk).transpose(0, 1).reshape(N, a.heads * D)
        x = x + self.o(o)
        h = rms_norm(x, self.ln2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed = torch.nn.Embedding(a.vocab, a.hidden)
        self.blocks = torch.nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = torch.nn.Parameter(torch.ones(a.hidden))
        self.lm_head = torch.nn.Linear(a.hidden, a.vocab, bias=False)

    def forward(self, ids, rows, targets, cos, sin):
        x = self.embed(ids)
        for b in self.blocks:
            x = checkpoint(b, x, cos, sin, use_reentrant=False) if self.a.checkpoint == "block" else b(x, cos, sin)
        logits = self.lm_head(rms_norm(x[rows], self.norm))
        return F.cross_entropy(logits, targets)


def main():
    p = argparse.ArgumentParser()
    for name in ("vocab", "hidden", "layers", "heads", "kv-heads", "ffn", "tokens"):
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--rope-base", type=float, default=1e6)
    p.add_argument("--checkpoint", choices=("block", "none"), default="block")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--steps", type=int, choices=(1, 2), default=2)
    p.add_argument("--attn-chunk", type=int, default=1024)
    a = p.parse_args()
    if a.attn_chunk < 1:
        p.error("--attn-chunk must be at least 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = Model(a).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    N, D = a.tokens, a.hidden // a.heads
    inv = 1.0 / (a.rope_base ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(N, dtype=torch.float64).unsqueeze(1) * inv.unsqueeze(0)
    cos, sin = ang.cos().float().to(dev), ang.sin().float().to(dev)
    ids = torch.randint(0, a.vocab, (N,)).to(dev)
    rows = torch.tensor([N - 3, N - 2], device=dev)   # the answer: two tokens, as the retrieval task's
    targets = ids[rows + 1]

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for _ in range(a.steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, rows, targets, cos, sin)
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        where, peak = torch.cuda.get_device_name(), torch.cuda.max_memory_allocated() / 2**20
    else:
        where, peak = f"threads {torch.get_num_threads()}", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} {where}: {N / times[-1]:.1f} tokens/s "
          f"(step {len(times)}: {times[-1]:.2f} s, loss {loss.item():.4f}), peak {'GPU memory' if dev.type == 'cuda' else 'RSS'} {peak:.0f} MiB")


if __name__ == "__main__":
    main()
