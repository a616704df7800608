#!/usr/bin/python3
"""Contrastive pairs and triplets from the labelled similarity sets, for the `sup` objective.

  SICK (pair_ID, sentence_A, sentence_B, relatedness_score, entailment_judgment; header line):
    every ENTAILMENT pair A -> B gives "A<TAB>B"; when A also has a CONTRADICTION partner C,
    the line is the triplet "A<TAB>B<TAB>C" (C is a hard negative).
  STS-B (the release's tab-separated format, score in column 5, sentences in 6 and 7):
    every pair scored >= --min-score gives "s1<TAB>s2".

Lines whose two sentences are equal are skipped (a sentence is never its own negative in a
batch). Output is written to a temporary file and renamed. Counts go to stderr.

usage: sup_pairs.py --output FILE [--sick FILE ...] [--stsb FILE ...] [--min-score 4.0]
Standard library only.
"""
import argparse
import os
import sys


def sick_lines(path):
    partners = {}  # sentence_A -> {"ENTAILMENT": [B...], "CONTRADICTION": [C...]}
    order = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        try:
            ia, ib, il = (header.index(k) for k in ("sentence_A", "sentence_B", "entailment_judgment"))
        except ValueError:
            sys.exit(f"{path}: not a SICK file (header {header})")
        for n, line in enumerate(f, start=2):
            cols = line.rstrip("\n").split("\t")
            if len(cols) <= max(ia, ib, il):
                sys.exit(f"{path}:{n}: expected at least {max(ia, ib, il) + 1} columns")
            a, b, label = cols[ia].strip(), cols[ib].strip(), cols[il].strip()
            if not a or not b or a == b:
                continue
            if a not in partners:
                partners[a] = {}
                order.append(a)
            partners[a].setdefault(label, []).append(b)
    out = []
    for a in order:
        contradictions = partners[a].get("CONTRADICTION", [])
        for i, b in enumerate(partners[a].get("ENTAILMENT", [])):
            if contradictions:
                out.append((a, b, contradictions[i % len(contradictions)]))
            else:
                out.append((a, b))
    return out


def stsb_lines(path, min_score):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                sys.exit(f"{path}:{n}: expected at least 7 tab-separated columns")
            try:
                score = float(cols[4])
            except ValueError:
                sys.exit(f"{path}:{n}: score '{cols[4]}' is not a number")
            a, b = cols[5].strip(), cols[6].strip()
            if score >= min_score and a and b and a != b:
                out.append((a, b))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--sick", nargs="*", default=[])
    ap.add_argument("--stsb", nargs="*", default=[])
    ap.add_argument("--min-score", type=float, default=4.0)
    args = ap.parse_args()
    if not args.sick and not args.stsb:
        sys.exit("give --sick and/or --stsb files")
    rows = []
    for p in args.sick:
        got = sick_lines(p)
        print(f"{p}: {len(got)} entailment pairs, "
              f"{sum(len(r) == 3 for r in got)} with a contradiction", file=sys.stderr)
        rows += got
    for p in args.stsb:
        got = stsb_lines(p, args.min_score)
        print(f"{p}: {len(got)} pairs scored >= {args.min_score}", file=sys.stderr)
        rows += got
    if not rows:
        sys.exit("no pairs found")
    tmp = f"{args.output}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join(s.replace("\t", " ") for s in r) + "\n")
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
