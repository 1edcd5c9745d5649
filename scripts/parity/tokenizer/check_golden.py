#!/usr/bin/python3
"""Step 1: does each reference harness (and minivl) reproduce golden.jsonl?
usage: check_golden.py [names...]"""
import json, sys
from common import TOK, run_ref, run_minivl

names = sys.argv[1:] or list(TOK)
for name in names:
    g = [json.loads(l) for l in open(TOK[name]['dir'] + '/golden.jsonl')]
    texts = [x['text'] for x in g]
    ref = run_ref(name, texts)
    mv = run_minivl(name, texts)
    extra = {}
    if TOK[name]['kind'] == 'hf':
        extra['lenml'] = run_ref(name, texts, lenml=True)
    for label, outs in [('ref', ref), ('minivl', mv)] + list(extra.items()):
        ids_ok = sum(o['ids'] == x['ids'] for o, x in zip(outs, g))
        dec_ok = sum(o['decoded'] == x['decoded'] for o, x in zip(outs, g))
        print('%-10s %-7s ids %d/%d  decoded %d/%d' % (name, label, ids_ok, len(g), dec_ok, len(g)))
        bad = [i for i, (o, x) in enumerate(zip(outs, g)) if o['ids'] != x['ids'] or o['decoded'] != x['decoded']]
        for i in bad[:5]:
            print('   mismatch text=%s\n      got=%s\n     gold=%s' % (json.dumps(g[i]['text'])[:200],
                  json.dumps(outs[i])[:300], json.dumps({'ids': g[i]['ids'], 'decoded': g[i]['decoded']})[:300]))
