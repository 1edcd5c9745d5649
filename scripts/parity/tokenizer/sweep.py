#!/usr/bin/python3
"""Differential sweep minivl vs reference on generated cases, then ddmin-shrink the disagreements.
usage: sweep.py NAME CASES.jsonl [--max-shrink K]
writes runs/NAME.fail.jsonl (all disagreements) and runs/NAME.min.jsonl (shrunk repros)."""
import json, os, sys, time
from common import run_minivl, run_ref, minivl_one, HERE

name, cases_path = sys.argv[1], sys.argv[2]
max_shrink = int(sys.argv[sys.argv.index('--max-shrink') + 1]) if '--max-shrink' in sys.argv else 40
cases = [json.loads(l) for l in open(cases_path)]
texts = [c['text'] for c in cases]


def kind(m, r):
    if 'error' in m:
        return 'err'
    if m['ids'] != r['ids']:
        return 'ids'
    if m['decoded'] != r['decoded']:
        return 'dec'
    return None


def minivl_batch(ts, ensure_ascii=False):
    try:
        return run_minivl(name, ts, ensure_ascii)
    except Exception:
        return [minivl_one(name, t, ensure_ascii) for t in ts]


t0 = time.time()
ref = run_ref(name, texts)
t1 = time.time()
mv = minivl_batch(texts)
mv_ascii = minivl_batch(texts, ensure_ascii=True)
t2 = time.time()
fails = []
for i, (c, m, ma, r) in enumerate(zip(cases, mv, mv_ascii, ref)):
    k = kind(m, r)
    if k is None and m != ma:
        k = 'escape'  # same text, \\u-escaped JSON input gives a different answer
    if k:
        fails.append(dict(i=i, cat=c['cat'], kind=k, text=c['text'], minivl=m, ref=r, minivl_ascii=ma))
os.makedirs(os.path.join(HERE, 'runs'), exist_ok=True)
with open(os.path.join(HERE, 'runs', name + '.fail.jsonl'), 'w') as f:
    for x in fails:
        f.write(json.dumps(x, ensure_ascii=True) + '\n')
bycat = {}
for x in fails:
    bycat[x['cat'] + '/' + x['kind']] = bycat.get(x['cat'] + '/' + x['kind'], 0) + 1
print('%s: %d cases, %d disagreements %s (ref %.1fs, minivl %.1fs)' % (name, len(cases), len(fails), bycat, t1 - t0, t2 - t1))
sys.stdout.flush()


# ---------------- shrinking ----------------
def test_batch(cands, k):
    cands = list(cands)
    if k == 'escape':
        a = minivl_batch(cands); b = minivl_batch(cands, True)
        return [x != y for x, y in zip(a, b)]
    r = run_ref(name, cands)
    m = minivl_batch(cands)
    return [kind(x, y) == k for x, y in zip(m, r)]


def ddmin(s, k):
    n = 2
    while len(s) >= 2:
        chunk = -(-len(s) // n)
        starts = list(range(0, len(s), chunk))
        subsets = [s[i:i + chunk] for i in starts]
        comps = [s[:i] + s[i + chunk:] for i in starts]
        cands = list(dict.fromkeys(subsets + comps))
        res = dict(zip(cands, test_batch(cands, k)))
        sub = next((c for c in subsets if res[c]), None)
        comp = next((c for c in comps if res[c]), None)
        if sub is not None and len(subsets) > 1:
            s, n = sub, 2
        elif comp is not None:
            s, n = comp, max(n - 1, 2)
        elif n >= len(s):
            break
        else:
            n = min(len(s), 2 * n)
    return s


mins = []
seen = set()
for x in fails[:max_shrink]:
    s = ddmin(x['text'], x['kind'])
    if s in seen:
        continue
    seen.add(s)
    r = run_ref(name, [s])[0]
    m = minivl_one(name, s)
    mins.append(dict(cat=x['cat'], kind=x['kind'], orig_i=x['i'], orig_len=len(x['text']), text=s, minivl=m, ref=r))
    print('  [%s/%s] %s\n     minivl=%s\n     ref   =%s' % (x['cat'], x['kind'], json.dumps(s), json.dumps(m, ensure_ascii=False)[:300],
                                                          json.dumps(r, ensure_ascii=False)[:300]))
    sys.stdout.flush()
with open(os.path.join(HERE, 'runs', name + '.min.jsonl'), 'w') as f:
    for x in mins:
        f.write(json.dumps(x, ensure_ascii=True) + '\n')
print('%s: %d distinct minimal repros from %d shrunk' % (name, len(mins), min(len(fails), max_shrink)))
