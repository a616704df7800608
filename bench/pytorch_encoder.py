#!/usr/bin/python3
"""sembed's encoder in plain PyTorch: the baseline of bench/encode_bench.sh.

Reads a sembed model directory on its own (config.json, and model.safetensors parsed with json +
torch.frombuffer: no safetensors package needed), builds the same pre-LN transformer as
model/encoder.cpp, and embeds pre-tokenised sentences the way sentence-transformers'
encode() does: longest first, batches of 64 padded to their longest row, torch.inference_mode,
mean pooling over the mask, L2 normalisation; once in fp32 and once under bf16 autocast.

    /usr/bin/python3 bench/pytorch_encoder.py --model DIR --ids ids.txt [--threads 2]
        [--batch-size 64] [--repeat 3] [--min-seconds 30] [--compare sembed_fp32.npy]
        [--compare-bf16 sembed_bf16.npy] [--onednn-fp32]

ids.txt: one sentence per line, its piece ids separated by spaces, no special tokens (what
`sembed tokenizer encode` prints, and what encode_bench --out-dir writes). Prints one JSON object.
Written for Debian's python3-torch 1.13 (run it with /usr/bin/python3).
"""

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PAD_ID, CLS_ID, SEP_ID = 0, 2, 3  # tokenizer/tokenizer.h


def read_safetensors(path):
    """{name: float32 tensor} from a safetensors file: u64 LE header size, JSON header, data."""
    with open(path, "rb") as f:
        data = bytearray(f.read())  # writable, so torch.frombuffer does not warn
    (header_len,) = np.frombuffer(data[:8], dtype="<u8")
    header = json.loads(bytes(data[8 : 8 + int(header_len)]))
    base = 8 + int(header_len)
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = dtypes[entry["dtype"]]
        shape = entry["shape"]
        numel = math.prod(shape)
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(data, dtype=dtype, count=numel, offset=base + begin).reshape(shape)
        assert t.numel() * t.element_size() == end - begin, name
        tensors[name] = t.to(torch.float32).clone()
    return tensors


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x, bias):
        b, t, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d).permute(2, 0, 3, 1, 4).unbind(0)
        # Written out as BERT's self-attention is in transformers (torch 1.13 has no public fused op).
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
        probs = scores.softmax(dim=-1)
        ctx = torch.matmul(probs.to(v.dtype), v)
        return self.out(ctx.transpose(1, 2).reshape(b, t, h))


class FeedForward(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.up = nn.Linear(hidden, ffn)
        self.down = nn.Linear(ffn, hidden)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class Layer(nn.Module):
    """Pre-LN: x + attn(LN(x)), then h + ffn(LN(h))."""

    def __init__(self, hidden, heads, ffn, eps):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.attention = Attention(hidden, heads)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn = FeedForward(hidden, ffn)

    def forward(self, x, bias):
        h = x + self.attention(self.attention_norm(x), bias)
        return h + self.ffn(self.ffn_norm(h))


class Embeddings(nn.Module):
    def __init__(self, vocab, max_len, hidden, eps):
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_len, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1])
        return self.norm(self.token(ids) + self.position(positions).unsqueeze(0))


class Encoder(nn.Module):
    """Module names equal sembed's registered names, so load_state_dict(strict=True) checks that
    every tensor of model.safetensors has its place and shape."""

    def __init__(self, cfg):
        super().__init__()
        h, eps = cfg["hidden"], cfg.get("layer_norm_eps", 1e-5)
        self.embeddings = Embeddings(cfg["vocab_size"], cfg["max_len"], h, eps)
        self.layers = nn.ModuleList(
            Layer(h, cfg["heads"], cfg["ffn"], eps) for _ in range(cfg["layers"])
        )
        self.final_norm = nn.LayerNorm(h, eps=eps)

    def forward(self, ids, mask):
        # Additive mask: -inf on padding keys, broadcast over heads and queries.
        bias = torch.zeros(mask.shape, dtype=torch.float32).masked_fill(~mask, float("-inf"))
        bias = bias[:, None, None, :]
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x, bias)
        return self.final_norm(x)


class OneDnnLinear(nn.Module):
    """fp32 Linear on oneDNN's inner product (what sembed uses for fp32 inference) instead of
    ATen's addmm, which Debian's torch sends to OpenBLAS. For the extra 'pytorch_fp32_onednn'
    measurement: the same GEMM library on both sides."""

    def __init__(self, linear):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x):
        y = torch._C._nn.mkldnn_linear(x.reshape(-1, x.shape[-1]).contiguous().to_mkldnn(),
                                       self.weight, self.bias).to_dense()
        return y.view(*x.shape[:-1], y.shape[-1])


def with_onednn_linears(model):
    for layer in model.layers:
        for parent, name in ((layer.attention, "qkv"), (layer.attention, "out"),
                             (layer.ffn, "up"), (layer.ffn, "down")):
            setattr(parent, name, OneDnnLinear(getattr(parent, name)))
    return model


def mean_pool_normalize(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return F.normalize(pooled.float(), p=2, dim=1)


def read_ids(path, max_len):
    rows = []
    with open(path) as f:
        for line in f:
            pieces = [int(x) for x in line.split()][: max_len - 2]
            rows.append([CLS_ID] + pieces + [SEP_ID])
    return rows


def embed(model, rows, batch_size, bf16):
    """sentence-transformers' encode loop: longest first, padded batches, order restored."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # stable, like sembed's
    out = torch.empty(len(rows), model.final_norm.normalized_shape[0])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            longest = len(rows[idx[0]])
            ids = torch.full((len(idx), longest), PAD_ID, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(rows[i])] = torch.tensor(rows[i])
            mask = ids != PAD_ID
            out[idx] = mean_pool_normalize(model(ids, mask), mask)
    return out.numpy()


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = (a.astype(np.float64) * b).sum(1)
    return {"mean": float(c.mean()), "min": float(c.min()), "max_abs_diff": float(np.abs(a - b).max())}


def time_passes(model, rows, args, name, bf16, result, vectors):
    """Warms up, then times up to args.repeat passes (stopping once they took args.min_seconds
    together); keeps the fastest time and the last vectors. Same policy as encode_bench."""
    embed(model, rows[: args.warmup], args.batch_size, bf16)
    passes = []
    for r in range(args.repeat):
        if r > 0 and sum(passes) >= args.min_seconds:
            break
        start = time.perf_counter()
        vectors[name] = embed(model, rows, args.batch_size, bf16)
        passes.append(time.perf_counter() - start)
        print(f"{name}: pass {r + 1} {passes[-1]:.2f} s, {len(rows) / passes[-1]:.1f} "
              "sentences/s", file=sys.stderr)
    best = min(passes)
    result[name] = {"seconds": best, "sentences_per_s": len(rows) / best,
                    "all_pass_seconds": passes}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="sembed model directory")
    p.add_argument("--ids", required=True, help="piece ids, one sentence per line")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3, help="at most this many timed passes")
    p.add_argument("--min-seconds", type=float, default=30,
                   help="stop repeating once the passes took this long together")
    p.add_argument("--warmup", type=int, default=256, help="sentences embedded before timing")
    p.add_argument("--compare", help="sembed's fp32 vectors (.npy) for the same ids")
    p.add_argument("--compare-bf16", help="sembed's bf16 vectors (.npy)")
    p.add_argument("--only", choices=["fp32", "bf16"], help="time one precision (profiling)")
    p.add_argument("--onednn-fp32", action="store_true",
                   help="also time fp32 with oneDNN linears ('pytorch_fp32_onednn')")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    config = json.load(open(os.path.join(args.model, "config.json")))
    cfg = config["encoder"]
    if config["pooling"]["mode"] != "mean":
        sys.exit("pytorch_encoder.py implements mean pooling only")
    model = Encoder(cfg)
    model.load_state_dict(read_safetensors(os.path.join(args.model, "model.safetensors")))
    model.eval()
    rows = read_ids(args.ids, cfg["max_len"])

    result = {"torch_version": torch.__version__, "threads": torch.get_num_threads(),
              "sentences": len(rows), "batch_size": args.batch_size}
    vectors = {}
    for name, bf16 in (("pytorch_fp32", False), ("pytorch_bf16", True)):
        if not args.only or args.only == name[-4:]:
            time_passes(model, rows, args, name, bf16, result, vectors)
    if args.only:
        print(json.dumps(result, indent=2))
        return
    if args.onednn_fp32:
        onednn = with_onednn_linears(copy.deepcopy(model))
        time_passes(onednn, rows, args, "pytorch_fp32_onednn", False, result, vectors)
        result["cosine_onednn_vs_aten_fp32"] = cosines(vectors["pytorch_fp32_onednn"],
                                                       vectors["pytorch_fp32"])
    result["cosine_pytorch_fp32_bf16"] = cosines(vectors["pytorch_fp32"], vectors["pytorch_bf16"])
    if args.compare:
        result["cosine_vs_sembed_fp32"] = cosines(vectors["pytorch_fp32"], np.load(args.compare))
    if args.compare_bf16:
        result["cosine_bf16_vs_sembed_bf16"] = cosines(vectors["pytorch_bf16"],
                                                       np.load(args.compare_bf16))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
