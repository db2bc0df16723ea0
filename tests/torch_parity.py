#!/usr/bin/python3
"""torch_parity.py DIR: the PyTorch side of tests/test_torch_parity.c.

Reads the C model's config, flat parameters and one batch from DIR, builds
the same GPT in PyTorch (functional, on views of the same flat layout as
recipe/gpt.h), and writes back, as raw little-endian float32:
  logits.bin  [B*T, V]          first forward
  loss.bin    [1]               its mean cross-entropy
  grads.bin   [nparams]         every gradient, in the flat layout
  loss10.bin  [1]               loss after 10 AdamW steps on the same batch
  params10.bin [nparams]        parameters after those 10 steps
Exit status 3 when torch cannot be imported.
"""
import math
import os
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the C test turns this into a failure naming setup.sh
    print("torch_parity: cannot import torch (%s)" % e, file=sys.stderr)
    sys.exit(3)

NAMES = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
         "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]
DECAY = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}


def shapes(V, C, L, T):
    return {"wte": (V, C), "wpe": (T, C), "ln1w": (L, C), "ln1b": (L, C),
            "qkvw": (L, 3 * C, C), "qkvb": (L, 3 * C), "attprojw": (L, C, C),
            "attprojb": (L, C), "ln2w": (L, C), "ln2b": (L, C), "fcw": (L, 4 * C, C),
            "fcb": (L, 4 * C), "fcprojw": (L, C, 4 * C), "fcprojb": (L, C),
            "lnfw": (C,), "lnfb": (C,)}


def forward(P, idx, V, C, L, NH, T):
    B = idx.shape[0]
    hs = C // NH
    x = P["wte"][idx] + P["wpe"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        h = F.layer_norm(x, (C,), P["ln1w"][l], P["ln1b"][l], eps=1e-5)
        qkv = h @ P["qkvw"][l].t() + P["qkvb"][l]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, NH, hs).transpose(1, 2)
        k = k.view(B, T, NH, hs).transpose(1, 2)
        v = v.view(B, T, NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + (y @ P["attprojw"][l].t() + P["attprojb"][l])
        h = F.layer_norm(x, (C,), P["ln2w"][l], P["ln2b"][l], eps=1e-5)
        h = F.gelu(h @ P["fcw"][l].t() + P["fcb"][l], approximate="tanh")
        x = x + (h @ P["fcprojw"][l].t() + P["fcprojb"][l])
    x = F.layer_norm(x, (C,), P["lnfw"], P["lnfb"], eps=1e-5)
    return x @ P["wte"].t()


def main():
    d = sys.argv[1]
    cfg = open(os.path.join(d, "config.txt")).read().split()
    V, C, L, NH, T, B, warmup, steps = (int(v) for v in cfg[:8])
    lr, wd, b1, b2, eps = (float(v) for v in cfg[8:13])
    torch.set_num_threads(1)
    flat = np.fromfile(os.path.join(d, "params.bin"), dtype="<f4")
    tok = torch.from_numpy(np.fromfile(os.path.join(d, "tokens.bin"), dtype="<i4").astype(np.int64))
    tok = tok.view(B, T + 1)
    idx, tgt = tok[:, :-1], tok[:, 1:]
    P, off = {}, 0
    for n in NAMES:
        s = shapes(V, C, L, T)[n]
        cnt = int(np.prod(s))
        P[n] = torch.tensor(flat[off:off + cnt].reshape(s), requires_grad=True)
        off += cnt
    assert off == flat.size, "parameter count mismatch"

    def loss_fn():
        logits = forward(P, idx, V, C, L, NH, T)
        return logits, F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))

    logits, loss = loss_fn()
    loss.backward()
    logits.detach().numpy().astype("<f4").tofile(os.path.join(d, "logits.bin"))
    np.array([loss.item()], dtype="<f4").tofile(os.path.join(d, "loss.bin"))
    np.concatenate([P[n].grad.numpy().ravel() for n in NAMES]).astype("<f4").tofile(
        os.path.join(d, "grads.bin"))

    opt = torch.optim.AdamW(
        [{"params": [P[n] for n in NAMES if n in DECAY], "weight_decay": wd},
         {"params": [P[n] for n in NAMES if n not in DECAY], "weight_decay": 0.0}],
        lr=lr, betas=(b1, b2), eps=eps, foreach=False)
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * (s + 1) / warmup if s < warmup else lr
        opt.zero_grad(set_to_none=True)
        _, loss = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, loss = loss_fn()
    np.array([loss.item()], dtype="<f4").tofile(os.path.join(d, "loss10.bin"))
    np.concatenate([P[n].detach().numpy().ravel() for n in NAMES]).astype("<f4").tofile(
        os.path.join(d, "params10.bin"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
