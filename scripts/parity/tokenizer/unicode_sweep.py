#!/usr/bin/python3
"""Exhaustive-ish code point sweep for the byte-level BPE tokenizers (regex classes \\p{L} \\p{N} \\s and NFC).
Each code point c is put in the context CTX(c); 400 code points per string; failing strings are
re-tested one code point per string.
usage: unicode_sweep.py NAME  -> runs/NAME.unicode.jsonl (per-code-point disagreements)"""
import json, os, sys, unicodedata
from common import run_minivl, run_ref, HERE

name = sys.argv[1]
RANGES = [(0x0, 0x34000), (0xE0000, 0xE0200), (0xF0000, 0xF0100), (0x10FF00, 0x110000)]
cps = [c for a, b in RANGES for c in range(a, b) if not 0xD800 <= c < 0xE000]


def ctx(c):
    c = chr(c)
    return 'x%sx %s1%s a%s\'s %s\n' % (c, c, c, c, c)


def batch(ts):
    return run_minivl(name, ts), run_ref(name, ts)


CH = 400
chunks = [cps[i:i + CH] for i in range(0, len(cps), CH)]
bad_cps = []
for j in range(0, len(chunks), 200):  # 200 strings (~80k code points) per process pair
    part = chunks[j:j + 200]
    texts = [''.join(ctx(c) for c in ch) for ch in part]
    m, r = batch(texts)
    bad = [ch for ch, x, y in zip(part, m, r) if x != y]
    if bad:
        singles = [c for ch in bad for c in ch]
        m1, r1 = batch([ctx(c) for c in singles])
        for c, x, y in zip(singles, m1, r1):
            if x != y:
                bad_cps.append(dict(cp='U+%04X' % c, cat=unicodedata.category(chr(c)), text=ctx(c), minivl=x['ids'], ref=y['ids']))
    print('%s: chunks %d-%d done, %d bad code points so far' % (name, j, j + len(part), len(bad_cps)))
    sys.stdout.flush()
with open(os.path.join(HERE, 'runs', name + '.unicode.jsonl'), 'w') as f:
    for x in bad_cps:
        f.write(json.dumps(x) + '\n')
print('%s: %d code points tested, %d disagree' % (name, len(cps), len(bad_cps)))
