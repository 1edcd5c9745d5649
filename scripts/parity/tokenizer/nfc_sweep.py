#!/usr/bin/python3
"""NFC-focused sweep for qwen2 (the only tokenizer with a normalizer):
NFD forms of every decomposable code point, all Hangul L+V(+T) jamo combinations (T incl. U+11A7 and U+11C3),
and seeded random base+combining-mark stacks in non-canonical order.
usage: nfc_sweep.py [NAME] -> runs/NAME.nfc.jsonl"""
import json, os, random, sys, unicodedata
from common import run_minivl, run_ref, HERE

name = sys.argv[1] if len(sys.argv) > 1 else 'qwen2'
R = random.Random(7)
items = []
for c in range(0x110000):
    if 0xD800 <= c < 0xE000:
        continue
    d = unicodedata.normalize('NFD', chr(c))
    if d != chr(c):
        items.append(('nfd U+%04X' % c, 'x' + d + ' ' + d))
for L in range(0x1100, 0x1113):
    for V in range(0x1161, 0x1176):
        items.append(('LV', chr(L) + chr(V)))
for T in range(0x11A6, 0x11C4):
    for LV in (0xAC00, 0xB098, 0xD788):
        items.append(('LV+T U+%04X' % T, chr(LV) + chr(T)))
    items.append(('L+V+T U+%04X' % T, '\u1100\u1161' + chr(T)))
    items.append(('LVT+T U+%04X' % T, '\uac01' + chr(T)))
marks = [chr(c) for c in range(0x300, 0x370)] + ['\u0591', '\u05b0', '\u05bc', '\u0610', '\u064b', '\u0651', '\u093c',
         '\u094d', '\u0e38', '\u0e48', '\u1dc0', '\u20d0', '\u302a', '\u3099', '\u0345', '\u031b', '\u0323', '\u0327']
bases = list('aeiouyAEIOUYcnsgzrwhktCNSGZ') + ['\u03b1', '\u03b7', '\u03c9', '\u0399', '\u0438', '\u0415', '\u304b', '\u30cf',
                                                  '\u0915', '\u05d0', '\u0627', '\u0e01', '\u00e9', '\u1e9b']
for _ in range(3000):
    s = ''.join(R.choice(bases) + ''.join(R.choice(marks) for _ in range(R.randint(1, 4))) for _ in range(R.randint(1, 3)))
    items.append(('stack', s))
texts = [t for _, t in items]
bad = []
for j in range(0, len(texts), 3000):
    part = items[j:j + 3000]
    m = run_minivl(name, [t for _, t in part])
    r = run_ref(name, [t for _, t in part])
    for (lab, t), x, y in zip(part, m, r):
        if x != y:
            bad.append(dict(label=lab, text=t, minivl=x['ids'], ref=y['ids']))
with open(os.path.join(HERE, 'runs', name + '.nfc.jsonl'), 'w') as f:
    for x in bad:
        f.write(json.dumps(x) + '\n')
print('%s: %d NFC cases, %d disagree' % (name, len(items), len(bad)))
for x in bad[:20]:
    print(' ', x['label'], json.dumps(x['text']), x['minivl'], x['ref'])
