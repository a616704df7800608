#!/usr/bin/python3
"""Verse-aligned paraphrase pairs from two English Bible translations in Debian, for `sup`.

  King James Version: the `bible` program of Debian's bible-kjv (text in bible-kjv-text).
  World English Bible: the SWORD module engWEB2015eb of Debian's sword-text-web, read with
    `diatheke` (Debian package diatheke), book by book in OSIS markup.

Each verse of the 66 books that both translations have gives the line "KJV<TAB>WEB". Verses
are aligned by (book, chapter, verse). A pair is skipped, and counted, when either side is
empty, when the two sides are equal once lower-cased and stripped of punctuation, or when
either side has more than --max-words words (the sup stage's max_len would cut it). Output is
written to a temporary file and renamed. Counts go to stderr.

usage: bible_pairs.py --output FILE [--max-words 40] [--max-pairs N] [--seed 1]
Standard library only.
"""
import argparse
import os
import random
import re
import subprocess
import sys

# The 66 books in KJV order, by OSIS id (what SWORD's key parser accepts for every module).
OSIS_BOOKS = (
    "Gen Exod Lev Num Deut Josh Judg Ruth 1Sam 2Sam 1Kgs 2Kgs 1Chr 2Chr Ezra Neh Esth Job Ps "
    "Prov Eccl Song Isa Jer Lam Ezek Dan Hos Joel Amos Obad Jonah Mic Nah Hab Zeph Hag Zech Mal "
    "Matt Mark Luke John Acts Rom 1Cor 2Cor Gal Eph Phil Col 1Thess 2Thess 1Tim 2Tim Titus Phlm "
    "Heb Jas 1Pet 2Pet 1John 2John 3John Jude Rev"
).split()
WEB_MODULE = "engWEB2015eb"


def run(cmd):
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"bible_pairs: {cmd[0]} not found (install Debian packages bible-kjv and "
                 f"diatheke, sword-text-web: scripts/setup.sh does)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"bible_pairs: {' '.join(cmd)} failed ({e.returncode}): {e.stderr.strip()}")
    return out.stdout


def kjv_verses():
    """{(book index, chapter, verse): text}; books numbered in order of appearance."""
    text = run(["bible", "-l0", "-f", "Gen1:1-Rev22:21"])
    verses, books = {}, []
    for line in text.splitlines():
        m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+)\s+(.*)$", line)
        if not m:
            continue
        if not books or books[-1] != m.group(1):
            books.append(m.group(1))
        verses[(len(books) - 1, int(m.group(2)), int(m.group(3)))] = m.group(4).strip()
    if len(books) != len(OSIS_BOOKS):
        sys.exit(f"bible_pairs: the KJV text has {len(books)} books, expected {len(OSIS_BOOKS)}")
    return verses


def strip_markup(s):
    s = s.replace("</w><w", "</w> <w")  # adjacent word elements are separate words
    s = re.sub(r"<note\b.*?</note>", "", s, flags=re.S)  # footnotes are not verse text
    s = re.sub(r"<[^>]*>", "", s)
    return re.sub(r"\s+", " ", s).strip()


def web_verses():
    """{(book index, chapter, verse): text}. diatheke prints "Name C:V: text", one verse a line,
    with the section heading of a verse (e.g. a psalm's title) before its reference; lines
    without a reference continue the verse before them."""
    verses = {}
    for b, osis in enumerate(OSIS_BOOKS):
        text = run(["diatheke", "-b", WEB_MODULE, "-f", "osis", "-k", osis])
        first = re.search(r"([1-3I]* ?[A-Z][A-Za-z ]*?) 1:1: ", text)
        if not first:
            sys.exit(f"bible_pairs: no verses for {osis} in {WEB_MODULE}")
        header = re.compile(re.escape(first.group(1)) + r" (\d+):(\d+): ?")
        book, key = {}, None
        for line in text.splitlines():
            if line.strip() == f"({WEB_MODULE})":
                continue
            m = header.search(line)
            if m:
                key = (b, int(m.group(1)), int(m.group(2)))
                book[key] = line[m.end():]
            elif key is not None:
                book[key] += " " + line
        verses.update((k, strip_markup(v)) for k, v in book.items())
    return verses


def plain(s):
    return re.sub(r"[^a-z0-9 ]", "", s.lower().replace("’", "'")).split()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--max-words", type=int, default=40)
    ap.add_argument("--max-pairs", type=int, default=0, help="keep a random sample (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    kjv, web = kjv_verses(), web_verses()
    counts = {"aligned": 0, "missing": 0, "empty": 0, "equal": 0, "long": 0}
    pairs = []
    for key in sorted(kjv):
        a, b = kjv[key], web.get(key)
        if b is None:
            counts["missing"] += 1
            continue
        counts["aligned"] += 1
        if not a or not b:
            counts["empty"] += 1
            continue
        wa, wb = plain(a), plain(b)
        if wa == wb:
            counts["equal"] += 1
            continue
        if len(wa) > args.max_words or len(wb) > args.max_words:
            counts["long"] += 1
            continue
        pairs.append((a.replace("\t", " "), b.replace("\t", " ")))
    if args.max_pairs and len(pairs) > args.max_pairs:
        random.Random(args.seed).shuffle(pairs)
        pairs = pairs[: args.max_pairs]
    if not pairs:
        sys.exit("bible_pairs: no pairs")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for a, b in pairs:
            f.write(f"{a}\t{b}\n")
    os.replace(tmp, args.output)
    print(f"bible_pairs: KJV {len(kjv)} verses, WEB {len(web)}; " +
          ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; wrote {len(pairs)} pairs to "
          f"{args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
