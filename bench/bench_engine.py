#!/usr/bin/python3
"""bench_engine.py: the PyTorch peer of `karpa bench engine`.

Builds the same GPT as recipe v0.1.0's "bench" config (d_model 256, 4 layers,
4 heads, context 256, vocab 4096, batch 8; pre-LayerNorm, GELU-tanh MLP, tied
embeddings), fp32 on CPU, and times full training steps (forward, backward,
AdamW) on random tokens after a warmup. Prints one line, or one JSON object
with --json. Never asserts speed.

usage: bench_engine.py [--threads T] [--steps N] [--warmup N] [--json]
"""
import argparse
import json
import math
import os
import resource
import sys
import time


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# torch.set_num_threads alone leaves some pools sized by the machine (a
# "1 thread" run was measured using 1.6 cores); pin every pool before import.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = _threads_from_argv()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# The benchmark model (recipe/config.c, scale "bench").
V, C, L, NH, T, B = 4096, 256, 4, 4, 256, 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(b, t, NH, c // NH).transpose(1, 2)
        k = k.view(b, t, NH, c // NH).transpose(1, 2)
        v = v.view(b, t, NH, c // NH).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // NH))
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.proj(y)
        x = x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.blocks = nn.ModuleList([Block() for _ in range(L)])
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.1)
    tokens = torch.randint(0, V, (B, T + 1))
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    ms = dt * 1000.0 / a.steps
    tok_s = B * T * a.steps / dt
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    params = sum(p.numel() for p in model.parameters())
    if a.json:
        print(json.dumps({"bench": "engine", "impl": "torch", "torch": torch.__version__,
                          "threads": a.threads, "steps": a.steps, "batch": B, "seq_len": T,
                          "params": params, "ms_per_step": round(ms, 2),
                          "tokens_per_s": round(tok_s, 1), "peak_rss_mb": round(rss_mb, 1)}))
    else:
        print("torch engine threads=%d  %.1f ms/step  %.0f tok/s  params %d  peak rss %.0f MB"
              % (a.threads, ms, tok_s, params, rss_mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
