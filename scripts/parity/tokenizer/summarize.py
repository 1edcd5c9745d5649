#!/usr/bin/python3
"""Classify every random-sweep disagreement (runs/NAME.s*.fail.jsonl) by cause."""
import glob, json, os, re
bad_cp = {}
for n in ('qwen2', 'phi2'):
    p = 'runs/%s.unicode.jsonl' % n
    if os.path.exists(p):
        bad_cp[n] = {chr(int(json.loads(l)['cp'][2:], 16)) for l in open(p)}
HANGUL = re.compile('([\uac00-\ud7a3]|[\u1100-\u1112][\u1161-\u1175])\u11a7')
for n in ('qwen2', 'phi2', 'internlm2', 'phi3', 'alpaca'):
    runs = sorted(glob.glob('runs/%s.s*.cases.jsonl' % n))
    ncases = sum(1 for p in runs for _ in open(p))
    causes = {}
    fails = [json.loads(l) for p in sorted(glob.glob('runs/%s.s*.fail.jsonl' % n)) for l in open(p)]
    for f in fails:
        t = f['text']
        c = []
        if HANGUL.search(t): c.append('hangul-LV+U+11A7-composed')
        if n in bad_cp and any(ch in bad_cp[n] for ch in t): c.append('unicode>14-letter/number')
        if '\U00011935\U00011930' in t: c.append('dives-akuru-NFC')
        k = '+'.join(c) or 'UNCLASSIFIED'
        causes[k] = causes.get(k, 0) + 1
    print('%-10s cases %5d  disagreements %3d  %s' % (n, ncases, len(fails), causes))
