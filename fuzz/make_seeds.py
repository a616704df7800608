#!/usr/bin/env python3
"""Writes the binary and text seed corpora of fuzz/corpus/ (standard library only, deterministic).

The request seeds (fuzz/corpus/fuzz_requests/*.json) are hand-written files; this script makes the
seeds whose bytes are awkward to write by hand: tiny valid .npy and .safetensors files (and a few
broken ones), and normaliser/tokenizer texts, whose first byte selects the options (see
fuzz/fuzz_normalizer.cpp and fuzz/fuzz_tokenizer.cpp). Every seed stays well under 1 KB.

    python3 fuzz/make_seeds.py        # rewrites the seeds in place
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(descr, shape, payload, version=1):
    """A .npy file as numpy writes it (header padded so the data is 64-byte aligned)."""
    shape_lit = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_lit)
    prefix = 10 if version == 1 else 12
    total = prefix + len(d) + 1
    d += " " * ((total + 63) // 64 * 64 - total) + "\n"
    if version == 1:
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d))
    else:
        head = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(d))
    return head + d.encode("latin-1") + payload


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] in file order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


def main():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)

    # .npy: valid float32 and int8 matrices, a 1-D vector, version 2.0, an empty array, and two
    # broken files (data shorter than the header promises; Fortran order).
    write("fuzz_npy", "f32_2x3.npy", npy("<f4", [2, 3], f32(1, 2, 3, 4, 5, 6)))
    write("fuzz_npy", "i8_3x2.npy", npy("|i1", [3, 2], bytes([1, 255, 127, 128, 0, 5])))
    write("fuzz_npy", "f32_vec.npy", npy("<f4", [4], f32(0.5, -1, 2, 8)))
    write("fuzz_npy", "f32_v2.npy", npy("<f4", [1, 2], f32(1, 2), version=2))
    write("fuzz_npy", "f32_empty.npy", npy("<f4", [0, 8], b""))
    write("fuzz_npy", "truncated.npy", npy("<f4", [2, 2], f32(1, 2, 3)))
    fortran = npy("<f4", [2, 1], f32(1, 2)).replace(b"False", b"True ")
    write("fuzz_npy", "fortran.npy", fortran)

    # safetensors: a small model-like file with metadata, every dtype, an empty tensor, and a
    # truncated file.
    write("fuzz_safetensors", "two_tensors.safetensors", safetensors(
        [("embed.weight", "F32", [2, 2], f32(1, 2, 3, 4)), ("bias", "F32", [2], f32(0, 1))],
        {"format": "pt"}))
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U8": 1, "BOOL": 1}
    write("fuzz_safetensors", "all_dtypes.safetensors", safetensors(
        [(k.lower(), k, [1], bytes(range(1, n + 1))) for k, n in sizes.items()]))
    write("fuzz_safetensors", "empty_tensor.safetensors", safetensors(
        [("e", "F32", [0, 3], b""), ("s", "I64", [], struct.pack("<q", 7))]))
    write("fuzz_safetensors", "truncated.safetensors",
          safetensors([("w", "F32", [4], f32(1, 2, 3, 4))])[:-5])

    # Normaliser: first byte = options (bit 0 nfkc, 1 lowercase, 2 remove_control,
    # 3 collapse_whitespace, 4 replace_invalid_utf8).
    texts = [
        (0x0D, "Hello,   World!\t"),
        (0x0F, "  ＦＵＬＬｗｉｄｔｈ ﬁ ½ Ⅻ  "),
        (0x0B, "Straße İstanbul ΣΑΣ ǅ"),
        (0x1F, "caf\u00e9 cafe\u0301\u00a0\u2003x\u200b\u00ad y\u0085z"),
        (0x10, b"bad \xff\xfe utf8 \xc3 \xed\xa0\x80 end"),
        (0x0C, "\u00a8 \u0308a e\u0301 \uff9e\u3099 \u1100\u1161\u11a8"),
        (0x02, "Ǆ ẞ ﬃ ΐ ᾈ"),
        (0x08, "\r\n\u2028\u2029\u3000 tail \t"),
        (0x1D, "\U0001d518nicode \U0001f600 \u0000 \u202e rtl \ufeff"),
    ]
    for i, (opts, t) in enumerate(texts):
        raw = t if isinstance(t, bytes) else t.encode("utf-8")
        write("fuzz_normalizer", "text%d" % i, bytes([opts]) + raw)

    # Tokenizer: first byte: bit 0 = model (0 unigram, 1 bpe), max_len = 3 + (byte >> 1) % 40.
    tok = [
        (0x00, "Bakifo tiro, sumupe 1234!"),
        (0x41, "THE QUICK café STRASSE 東京 ½"),
        (0x10, "lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo lo"),
        (0x03, b"bpe replaces \xff bad bytes"),
        (0x22, "unseen ☃ characters ⁇ and \u2581 pieces"),
    ]
    for i, (opts, t) in enumerate(tok):
        raw = t if isinstance(t, bytes) else t.encode("utf-8")
        write("fuzz_tokenizer", "text%d" % i, bytes([opts]) + raw)


if __name__ == "__main__":
    main()
