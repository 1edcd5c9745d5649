#!/usr/bin/python3
"""-p TEXT mode vs --jsonl mode on the first K cases of a case file.  usage: pmode.py NAME CASES K"""
import json, subprocess, sys
from common import MINIVL, TOK, run_minivl
name, path, K = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = [t for t in (json.loads(l)['text'] for l in open(path)) if '\x00' not in t and len(t) < 30000][:K]
j = run_minivl(name, texts)
bad = 0
for t, o in zip(texts, j):
    r = subprocess.run([MINIVL, 'tokenize', '-m', TOK[name]['dir'], '-p', t], capture_output=True)
    ids = [int(x) for x in r.stdout.split()]
    if r.returncode or ids != o['ids']:
        bad += 1
        if bad <= 5: print('  diff', json.dumps(t)[:100], ids[:20], o['ids'][:20], r.returncode, r.stderr[:200])
print('%s: -p vs --jsonl on %d texts: %d differ' % (name, len(texts), bad))
