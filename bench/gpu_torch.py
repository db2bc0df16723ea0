#!/usr/bin/python3
"""gpu_torch.py: the PyTorch peer of Karpa's GPU training benchmark.

Owns one thing: timing full training steps (forward, backward, AdamW) of the
recipe's model written the way PyTorch users are told to write it for speed,
so the Karpa GPU engine has an honest yardstick on the same card.

The model is recipe v0.1.0's (recipe/gpt.c, layers.c, adamw.c, config.c):
GPT-2 style, learned wpe, tied wte / lm head, pre-LayerNorm (eps 1e-5, with
biases), qkv and output projections with biases, 4C MLP with tanh-GELU, final
LayerNorm, mean cross-entropy; GPT-2 init (std 0.02, residual projections
0.02/sqrt(2L), biases 0, LN gains 1); AdamW betas (0.9, 0.95), eps 1e-8,
decay 0.1 on the 2-D tensors only (wte, wpe, the four matrices per layer);
lr constant after a linear warmup (recipe gpt_lr).

"PyTorch's best" here: fp32 master weights with bf16 autocast, fused AdamW,
F.scaled_dot_product_attention(is_causal=True), torch.compile (excluded from
the timed region and reported on its own), TF32 for the fp32 matmuls, and the
vocabulary padded to a multiple of 128 (50257 -> 50304) for the lm-head
matmul only: the PyTorch Performance Tuning Guide asks for tensor-core sizes
that are multiples of 8, and 50257 is odd (its bf16 rows are not 16-byte
aligned, which sends cuBLAS to slower kernels). The padded rows are zero, get
no input ids, and their logits are sliced off before the loss, so the model
and its loss are exactly the V = 50257 model's (--vocab-pad 1 turns it off).

MFU counts model FLOPs only: per token 6 * P_mat + 6 * L * T * C, where P_mat
is every weight that takes part in a matmul (the four matrices per layer,
12 L C^2, plus the lm head V C with the unpadded V; not wpe, LayerNorms or
biases) and 6 L T C is causal attention (half of the full 12 L T C). The
peak is 989.4e12 FLOP/s, the H100 SXM dense bf16 datasheet figure (--peak to
change it); fp32 runs are still measured against it.

Also runs on the CPU (and on old torch without SDPA or torch.compile) for a
smoke test: the fallbacks are named in the output.

Output: a few human lines, the JSON object with --json, then one final line
starting with "bench torch" for scripts to grep.
"""
import argparse
import json
import math
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (V, C, L, NH, T)
SCALES = {
    "tiny": (512, 64, 2, 2, 64),
    "gpu-125m": (50257, 768, 12, 12, 1024),
    "gpu-254m": (50257, 1024, 16, 16, 1024),
}
H100_BF16_DENSE = 989.4e12
SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_INTS = 20240520, 1, 256
HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.qkv = nn.Linear(C, 3 * C)
        self.attproj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def attention(self, x):
        b, t, c = x.shape
        hs = c // self.nh
        # [b, t, 3c] -> three [b, nh, t, hs]
        q, k, v = self.qkv(x).view(b, t, 3, self.nh, hs).permute(2, 0, 3, 1, 4).unbind(0)
        if HAVE_SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch < 2.0 (the CPU smoke test): same maths, unfused
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            keep = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            y = s.masked_fill(~keep, float("-inf")).softmax(dim=-1) @ v
        return self.attproj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, C, L, NH, T, vocab_pad):
        super().__init__()
        self.V = V
        Vp = (V + vocab_pad - 1) // vocab_pad * vocab_pad
        self.wte = nn.Parameter(torch.empty(Vp, C))
        self.wpe = nn.Parameter(torch.empty(T, C))
        self.blocks = nn.ModuleList([Block(C, NH) for _ in range(L)])
        self.lnf = nn.LayerNorm(C, eps=1e-5)
        self.init_gpt2(L)

    @torch.no_grad()
    def init_gpt2(self, L):
        std, rstd = 0.02, 0.02 / math.sqrt(2 * L)
        self.wte.normal_(0.0, std)
        self.wte[self.V:].zero_()  # padding rows: inert, see the header
        self.wpe.normal_(0.0, std)
        for blk in self.blocks:
            for lin, s in ((blk.qkv, std), (blk.attproj, rstd), (blk.fc, std),
                           (blk.fcproj, rstd)):
                lin.weight.normal_(0.0, s)
                lin.bias.zero_()
            # nn.LayerNorm already starts at weight 1, bias 0

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = F.embedding(idx, self.wte) + self.wpe[:t]
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.t()
        # Drop the padded columns: the loss is the unpadded model's.
        logits = logits.view(-1, logits.shape[-1])[:, : self.V]
        return F.cross_entropy(logits.float(), targets.reshape(-1))


def matmul_params(V, C, L):
    """Weights that take part in matmuls: 4 matrices per layer + lm head."""
    return L * (3 * C * C + C * C + 4 * C * C + 4 * C * C) + V * C


def flops_per_token(V, C, L, T):
    return 6 * matmul_params(V, C, L) + 6 * L * T * C


def load_shard_tokens(path, need, V):
    """The first `need` tokens of an llm.c .bin shard (wrapping if short)."""
    with open(path, "rb") as f:
        head = struct.unpack("<%di" % SHARD_HEADER_INTS, f.read(4 * SHARD_HEADER_INTS))
        if head[0] != SHARD_MAGIC or head[1] != SHARD_VERSION:
            raise SystemExit("%s: not an llm.c token shard (magic %d version %d)"
                             % (path, head[0], head[1]))
        count = head[2]
        if count < 2:
            raise SystemExit("%s: only %d tokens" % (path, count))
        raw = f.read(2 * min(count, need))
    if len(raw) % 2 or len(raw) < 4:
        raise SystemExit("%s: truncated (header says %d tokens)" % (path, count))
    # torch has no uint16 on old versions: read as int16, widen, unsign.
    tok = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.int64) & 0xFFFF
    if int(tok.max()) >= V:
        raise SystemExit("%s: token id %d >= vocab %d" % (path, int(tok.max()), V))
    reps = (need + tok.numel() - 1) // tok.numel()
    return tok.repeat(reps)[:need]


def make_batches(a, V, T, nsteps, device):
    """One (x, y) per step, built before any timing, resident on the device."""
    n = a.batch * T
    if a.tokens:
        stream = load_shard_tokens(a.tokens, nsteps * n + 1, V)
        src = "shard %s" % a.tokens
    else:
        g = torch.Generator().manual_seed(a.seed + 1)
        stream = torch.randint(0, V, (nsteps * n + 1,), generator=g)
        src = "random tokens"
    stream = stream.to(device)
    out = []
    for s in range(nsteps):
        chunk = stream[s * n: s * n + n + 1]
        out.append((chunk[:-1].view(a.batch, T), chunk[1:].view(a.batch, T)))
    return out, src


def lr_at(a, step):
    """recipe/gpt.c gpt_lr: linear warmup over lr_warmup steps, then constant."""
    if step < a.lr_warmup:
        return a.lr * (step + 1) / a.lr_warmup
    return a.lr


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="gpu-125m")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5,
                    help="untimed steps first (the first one compiles)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-mode", default="default",
                    choices=["default", "max-autotune-no-cudagraphs"],
                    help="max-autotune: gpu-125m was still autotuning after 4 min "
                    "on an H100 (torch 2.11), against ~30 s for default")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tokens", help="llm.c .bin shard (uint16 tokens); random otherwise")
    ap.add_argument("--vocab-pad", type=int, default=128,
                    help="pad the lm-head rows to a multiple of this (1: no padding)")
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--lr-warmup", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peak", type=float, default=H100_BF16_DENSE,
                    help="peak FLOP/s for MFU (H100 SXM dense bf16)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.vocab_pad < 1 or a.lr_warmup < 1:
        ap.error("need --batch >= 1, --steps >= 1, --warmup >= 0, --vocab-pad >= 1, "
                 "--lr-warmup >= 1")

    V, C, L, NH, T = SCALES[a.scale]
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but torch %s sees no GPU" % torch.__version__)
    use_compile = not a.no_compile
    if use_compile and not hasattr(torch, "compile"):
        print("note: torch %s has no torch.compile; running eager" % torch.__version__)
        use_compile = False
    if use_compile and a.warmup < 1:
        print("note: --warmup raised to 1 so compilation stays out of the timed steps")
        a.warmup = 1

    # TF32 for whatever matmuls stay fp32 (all of them under --dtype fp32).
    # Only the legacy setter: recent torch refuses reads that mix it with
    # the per-backend fp32_precision API, and inductor still reads legacy.
    torch.set_float32_matmul_precision("high")
    torch.manual_seed(a.seed)

    model = GPT(V, C, L, NH, T, a.vocab_pad).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"  # fused AdamW is CUDA-only on older torch
    opt_kw = {"fused": True} if fused else {}
    opt = torch.optim.AdamW(groups, lr=lr_at(a, 0), betas=(0.9, 0.95), eps=1e-8, **opt_kw)
    step_model = torch.compile(model, mode=a.compile_mode) if use_compile else model

    nparams = sum(p.numel() for p in model.parameters()) - (model.wte.shape[0] - V) * C
    fpt = flops_per_token(V, C, L, T)
    batches, src = make_batches(a, V, T, a.warmup + a.steps, device)
    amp = a.dtype == "bf16"

    def train_step(step):
        x, y = batches[step]
        for g in opt.param_groups:
            g["lr"] = lr_at(a, step)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = step_model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    print("torch %s  device %s  scale %s (V %d C %d L %d NH %d T %d)  params %d  "
          "lm-head rows %d  B %d  dtype %s  compile %s  attention %s  adamw %s  data %s"
          % (torch.__version__,
             torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
             a.scale, V, C, L, NH, T, nparams, model.wte.shape[0], a.batch, a.dtype,
             a.compile_mode if use_compile else "off",
             "sdpa(is_causal)" if HAVE_SDPA else "unfused (no sdpa)",
             "fused" if fused else "foreach/default", src))
    sys.stdout.flush()

    # Warmup: step 0 alone, so its time (compilation + one step) is known.
    losses = []
    sync(device)
    t0 = time.perf_counter()
    if a.warmup:
        losses.append(train_step(0))
        sync(device)
    first_s = time.perf_counter() - t0
    for s in range(1, a.warmup):
        losses.append(train_step(s))
    sync(device)
    warm_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    # Timed region: no host syncs inside (losses stay on the device).
    t0 = time.perf_counter()
    for s in range(a.warmup, a.warmup + a.steps):
        losses.append(train_step(s))
    sync(device)
    dt = time.perf_counter() - t0

    losses = [float(v) for v in losses]
    ms = dt * 1000.0 / a.steps
    tok_s = a.batch * T * a.steps / dt
    mfu = tok_s * fpt / a.peak
    compile_s = max(first_s - ms / 1000.0, 0.0) if use_compile and a.warmup else 0.0
    if device.type == "cuda":
        peak_gib = torch.cuda.max_memory_allocated() / 2**30
        reserved_gib = torch.cuda.max_memory_reserved() / 2**30
        mem = "peak alloc %.2f GiB  peak reserved %.2f GiB" % (peak_gib, reserved_gib)
    else:
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        reserved_gib = None
        mem = "peak rss %.2f GiB" % peak_gib
    finite = all(math.isfinite(v) for v in losses)

    print("flops/token %.4g = 6 * P_mat (%d) + 6 * L*T*C (%d)  (ln V = %.3f)"
          % (fpt, matmul_params(V, C, L), L * T * C, math.log(V)))
    print("warmup %d steps %.2f s (first step %.2f s, compile ~%.2f s)  timed %d steps %.3f s"
          % (a.warmup, warm_s, first_s, compile_s, a.steps, dt))
    print("loss first step %.4f  final %.4f%s  %s"
          % (losses[0], losses[-1], "" if finite else "  NON-FINITE LOSS", mem))
    if a.json:
        print(json.dumps({
            "bench": "gpu", "impl": "torch", "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "scale": a.scale, "V": V, "C": C, "L": L, "NH": NH, "T": T,
            "vocab_rows": model.wte.shape[0], "params": nparams,
            "matmul_params": matmul_params(V, C, L), "flops_per_token": fpt,
            "batch": a.batch, "dtype": a.dtype,
            "compile": a.compile_mode if use_compile else "off",
            "sdpa": HAVE_SDPA, "fused_adamw": fused, "data": src,
            "warmup": a.warmup, "steps": a.steps, "first_step_s": round(first_s, 3),
            "compile_s": round(compile_s, 3), "timed_s": round(dt, 4),
            "ms_per_step": round(ms, 3), "tokens_per_s": round(tok_s, 1),
            "mfu": round(mfu, 5), "peak_flops": a.peak,
            "peak_mem_gib": round(peak_gib, 3),
            "peak_reserved_gib": None if reserved_gib is None else round(reserved_gib, 3),
            "loss_first": losses[0], "loss_final": losses[-1], "finite": finite}))
    print("bench torch scale=%s dtype=%s compile=%s B=%d tok/s=%.0f mfu=%.4f ms/step=%.2f"
          % (a.scale, a.dtype, a.compile_mode if use_compile else "off", a.batch, tok_s,
             mfu, ms))
    sys.stdout.flush()
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
