#!/usr/bin/python3
"""Synonym paraphrase pairs from raw text and WordNet (Debian wordnet-base), for contrastive
training without labelled data.

For each input sentence, words that have a common WordNet sense (the first, most frequent sense
in index.<pos>, seen in WordNet's tagged corpus) are replaced, each with probability P, by
another lemma of that sense (plural nouns keep a plural "s"). A sentence with no replacement is
skipped. Output: one "sentence<TAB>paraphrase" line per pair (the `sup` objective's pair format);
with --negatives a third column, the same words replaced by random words of the same part of
speech: a hard negative as close in form as the paraphrase.
Stopwords, capitalised words (mostly names), words listed under more than one part of
speech and very short words are never replaced. Deterministic for a given --seed.

usage: paraphrase_pairs.py --input SENTENCES --output PAIRS [--max-pairs N] [--p 0.4] [--seed 1]
                           [--wordnet /usr/share/wordnet] [--negatives]
Standard library only.
"""
import argparse
import os
import random
import re
import sys

STOP = set("""a an the and or but if then than that this these those there here of in on at to
for from by with without about into over under up down out off as is are was were be been being
have has had do does did not no nor so too very can could will would shall should may might must
i me my we us our you your he him his she her it its they them their who whom whose which what
when where why how all any both each few more most other some such only own same just also one
two three first new""".split())

WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|[^A-Za-z]+")


def log(msg):
    print(f"[paraphrase_pairs] {msg}", file=sys.stderr, flush=True)


def load_first_senses(wordnet):
    """word -> (pos, synonyms): the other lemmas of the word's most frequent sense."""
    first = {}  # word -> (pos, offset)
    ambiguous = set()  # words listed under more than one part of speech
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wordnet, "index." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split()
                lemma, synset_cnt, p_cnt = parts[0], int(parts[2]), int(parts[3])
                tagsense_cnt = int(parts[5 + p_cnt])
                if lemma in first:
                    ambiguous.add(lemma)
                if "_" in lemma or tagsense_cnt == 0 or lemma in first:
                    continue
                first[lemma] = (pos, parts[6 + p_cnt])
    wanted = {v for v in first.values()}
    lemmas = {}
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wordnet, "data." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split(" ", 4 + 2 * 64)
                key = (pos, parts[0])
                if key not in wanted:
                    continue
                w_cnt = int(parts[3], 16)
                words = []
                for i in range(w_cnt):
                    w = parts[4 + 2 * i]
                    w = re.sub(r"\([a-z]+\)$", "", w).replace("_", " ").lower()
                    words.append(w)
                lemmas[key] = words
    synonyms = {}
    for word, key in first.items():
        if word in ambiguous:
            continue
        syn = [w for w in lemmas.get(key, [])
               if w != word and w.isascii() and w.count(" ") <= 1]
        if syn:
            synonyms[word] = (key[0], syn)
    return synonyms


def paraphrase(sentence, synonyms, p, rng, by_pos=None):
    """(paraphrase, changed, negative): the negative (when by_pos is given) replaces the same
    words by random words of the same part of speech instead of synonyms: lexically as close to
    the sentence as the paraphrase, but meaning something else."""
    out, neg, changed = [], [], 0
    for tok in WORD.findall(sentence):
        low = tok.lower()
        # Lower-case words only: capitalised ones are mostly names, whose first sense is wrong.
        if len(low) >= 3 and tok == low and low not in STOP and tok.isalpha() and rng.random() < p:
            pos, cands = synonyms.get(low, (None, None))
            suffix = ""
            if cands is None and low.endswith("s") and synonyms.get(low[:-1], ("",))[0] == "noun":
                pos = "noun"
                # A regular plural noun: a one-word synonym takes the "s" too.
                cands = [w for w in synonyms[low[:-1]][1] if " " not in w and not w.endswith("s")]
                suffix = "s"
            if cands:
                rep = rng.choice(cands) + suffix
                out.append(rep)
                if by_pos is not None:
                    other = rng.choice(by_pos[pos])
                    while other == low or other in cands:
                        other = rng.choice(by_pos[pos])
                    neg.append(other + suffix)
                changed += 1
                continue
        out.append(tok)
        neg.append(tok)
    return "".join(out), changed, "".join(neg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--max-pairs", type=int, default=200000)
    ap.add_argument("--p", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--negatives", action="store_true",
                    help="add a third column: the same words replaced by random words")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.wordnet, "index.noun")):
        sys.exit(f"paraphrase_pairs: no WordNet in {a.wordnet} (install wordnet-base)")
    synonyms = load_first_senses(a.wordnet)
    log(f"{len(synonyms)} words with synonyms")
    by_pos = None
    if a.negatives:
        by_pos = {}
        for word, (pos, _) in synonyms.items():
            by_pos.setdefault(pos, []).append(word)
        for pos in by_pos:
            by_pos[pos].sort()
    rng = random.Random(a.seed)
    with open(a.input, encoding="utf-8", errors="replace") as f:
        sentences = [l.strip() for l in f if l.strip() and "\t" not in l]
    rng.shuffle(sentences)
    tmp = a.output + ".tmp"
    pairs = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for s in sentences:
            if pairs >= a.max_pairs:
                break
            para, changed, neg = paraphrase(s, synonyms, a.p, rng, by_pos)
            if changed:
                out.write(f"{s}\t{para}\t{neg}\n" if a.negatives else f"{s}\t{para}\n")
                pairs += 1
    os.replace(tmp, a.output)
    log(f"{pairs} pairs from {len(sentences)} sentences -> {a.output}")


if __name__ == "__main__":
    main()
