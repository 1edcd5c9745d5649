#!/usr/bin/python3
"""A few very large single-line inputs (200 KB .. 1 MB).  usage: bigdoc.py NAME"""
import glob, json, sys
from common import run_minivl, run_ref
name = sys.argv[1]
prose = ''.join(open(f, encoding='utf-8', errors='replace').read() for f in sorted(glob.glob('/usr/share/common-licenses/*'))[:12])
code = ''.join(open(f, encoding='utf-8').read() for f in sorted(glob.glob('/usr/lib/python3.11/*.py'))[:40])
texts = [prose[:200000], code[:1000000], ('中文测试，' * 2000 + 'mixed English text 123 ') * 20, 'x' * 300000]
m, r = run_minivl(name, texts), run_ref(name, texts)
for t, a, b in zip(texts, m, r):
    print(name, len(t), 'chars', len(b['ids']), 'ids', 'OK' if a == b else 'DIFF ids_equal=%s dec_equal=%s' % (a['ids'] == b['ids'], a['decoded'] == b['decoded']))
