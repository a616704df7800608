#!/usr/bin/env python3
"""Baselines for bench/train_bench: the same unsupervised SimCSE training step in Python PyTorch.

train_bench times one sembed (LibTorch C++) step: a batch of B random sentences of T pieces
encoded twice under dropout, cls+MLP pooling, InfoNCE at tau 0.05 over the batch, backward, grad
clipping at 1, AdamW (lr 1e-4, weight decay 0.01), bf16 autocast unless --fp32. This script times
that step, with the same shapes and the same FLOP count, in two Python implementations:

  pytorch  sembed's pre-LN encoder written in PyTorch (fused qkv, F.scaled_dot_product_attention
           where the torch has it, else written out), eager mode.
  hf_bert  transformers' BertModel (the model the SimCSE reference code trains), built from a
           config of the same size (attn_implementation "sdpa" where supported), eager mode.
           Skipped when transformers cannot be imported.

    python3 bench/train_step_baseline.py --preset base --batch-size 128 --seq-len 32 \
        --steps 30 --device cuda [--fp32] [--json OUT.json] [--impl pytorch,hf_bert]

Prints one JSON object: for each implementation tokens/s, sentences/s and model TFLOP/s counted
as train_bench counts them (per layer 2*(4H^2 + 2HF) + 4TH per token forward, x3 for training).
"""

import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {  # model/config.cpp
    "tiny": dict(hidden=128, layers=2, heads=4, ffn=512, max_len=64),
    "small": dict(hidden=384, layers=6, heads=12, ffn=1536, max_len=128),
    "base": dict(hidden=768, layers=12, heads=12, ffn=3072, max_len=512),
}
NUM_SPECIAL, CLS_ID, SEP_ID = 4, 2, 3  # tokenizer/tokenizer.h


class Layer(nn.Module):
    def __init__(self, h, heads, ffn, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.attention_norm = nn.LayerNorm(h, eps=1e-5)
        self.qkv = nn.Linear(h, 3 * h)
        self.out = nn.Linear(h, h)
        self.ffn_norm = nn.LayerNorm(h, eps=1e-5)
        self.up = nn.Linear(h, ffn)
        self.down = nn.Linear(ffn, h)
        self.dropout = nn.Dropout(p)

    def attention(self, x, attend):
        b, t, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d).permute(2, 0, 3, 1, 4).unbind(0)
        p = self.p if self.training else 0.0
        if hasattr(F, "scaled_dot_product_attention"):
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=p)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
            probs = F.dropout(scores.masked_fill(~attend, float("-inf")).softmax(-1), p, self.training)
            ctx = torch.matmul(probs.to(v.dtype), v)
        return self.out(ctx.transpose(1, 2).reshape(b, t, h))

    def forward(self, x, attend):
        h = x + self.dropout(self.attention(self.attention_norm(x), attend))
        return h + self.dropout(self.down(F.gelu(self.up(self.ffn_norm(h)))))


class Encoder(nn.Module):
    def __init__(self, vocab, cfg, p=0.1):
        super().__init__()
        h = cfg["hidden"]
        self.token = nn.Embedding(vocab, h)
        self.position = nn.Embedding(cfg["max_len"], h)
        self.norm = nn.LayerNorm(h, eps=1e-5)
        self.dropout = nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(h, cfg["heads"], cfg["ffn"], p) for _ in range(cfg["layers"]))
        self.final_norm = nn.LayerNorm(h, eps=1e-5)
        self.pooler = nn.Linear(h, h)

    def forward(self, ids, mask):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.dropout(self.norm(self.token(ids) + self.position(positions)[None]))
        attend = mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attend)
        return torch.tanh(self.pooler(self.final_norm(x)[:, 0]))


class HfBert(nn.Module):
    """transformers.BertModel of the same size; SimCSE's cls+MLP head on the [CLS] state."""

    def __init__(self, vocab, cfg):
        super().__init__()
        import transformers

        config = transformers.BertConfig(
            vocab_size=vocab, hidden_size=cfg["hidden"], num_hidden_layers=cfg["layers"],
            num_attention_heads=cfg["heads"], intermediate_size=cfg["ffn"],
            max_position_embeddings=cfg["max_len"], hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1)
        try:
            self.bert = transformers.BertModel(config, add_pooling_layer=False,
                                               attn_implementation="sdpa")
        except TypeError:
            config._attn_implementation = "sdpa"
            self.bert = transformers.BertModel(config, add_pooling_layer=False)
        self.version = transformers.__version__
        self.attn = getattr(self.bert.config, "_attn_implementation", "?")
        self.pooler = nn.Linear(cfg["hidden"], cfg["hidden"])

    def forward(self, ids, mask):
        out = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return torch.tanh(self.pooler(out[:, 0]))


def info_nce(a, b, tau=0.05):
    a = F.normalize(a.float(), dim=1)
    b = F.normalize(b.float(), dim=1)
    logits = a @ b.t() / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def time_impl(model, args, device, cfg):
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(NUM_SPECIAL, args.vocab, (args.batch_size, args.seq_len), generator=g)
    ids[:, 0], ids[:, -1] = CLS_ID, SEP_ID
    ids = torch.cat([ids, ids]).to(device)
    mask = torch.ones(ids.shape, dtype=torch.bool, device=device)
    dtype = torch.bfloat16
    device_type = "cuda" if device.type == "cuda" else "cpu"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=dtype, enabled=not args.fp32):
            z = model(ids, mask)
            loss = info_nce(z[: args.batch_size], z[args.batch_size:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup_steps):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        last = step()
    sync()
    secs = time.perf_counter() - t0
    H, Fd, L, T = cfg["hidden"], cfg["ffn"], cfg["layers"], args.seq_len
    fwd_per_token = L * (2.0 * (4 * H * H + 2 * H * Fd) + 4.0 * T * H)
    tokens = 2.0 * args.batch_size * args.seq_len * args.steps
    return {
        "seconds": secs,
        "steps_per_s": args.steps / secs,
        "sentences_per_s": args.batch_size * args.steps / secs,
        "tokens_per_s": tokens / secs,
        "model_tflops_per_s": 3.0 * fwd_per_token * tokens / secs / 1e12,
        "final_loss": last.item(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="base", choices=sorted(PRESETS))
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--vocab", type=int, default=16000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--impl", default="pytorch,hf_bert")
    ap.add_argument("--json")
    args = ap.parse_args()
    cfg = dict(PRESETS[args.preset])
    cfg["max_len"] = max(cfg["max_len"], args.seq_len)
    device = torch.device(args.device)
    torch.manual_seed(0)
    result = {"preset": args.preset, "device": str(device), "bf16": not args.fp32,
              "batch_size": args.batch_size, "seq_len": args.seq_len, "steps": args.steps,
              "torch": torch.__version__}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    for impl in args.impl.split(","):
        try:
            if impl == "pytorch":
                model = Encoder(args.vocab, cfg)
            elif impl == "hf_bert":
                model = HfBert(args.vocab, cfg)
            else:
                raise ValueError(f"unknown implementation '{impl}'")
            r = time_impl(model, args, device, cfg)
            if impl == "hf_bert":
                r["transformers"], r["attn_implementation"] = model.version, model.attn
            result[impl] = r
        except Exception as e:  # an optional baseline missing must not lose the other's numbers
            result[impl] = {"error": f"{type(e).__name__}: {e}"}
        finally:
            model = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            f.write(text + "\n")
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
