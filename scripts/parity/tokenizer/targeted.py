#!/usr/bin/python3
"""Targeted (non-random) families: every added token x every whitespace char / neighbour, whitespace-only
strings, very long words/documents.  usage: targeted.py NAME -> runs/NAME.targeted.jsonl (disagreements)"""
import json, os, sys
from common import run_minivl, run_ref, TOK, HERE

name = sys.argv[1]
d = TOK[name]['dir']
if TOK[name]['kind'] == 'hf':
    added = [a['content'] for a in json.load(open(d + '/tokenizer.json'))['added_tokens']]
elif name == 'alpaca':
    added = ['<unk>', '<s>', '</s>', '[PAD]']
else:
    added = [v['content'] for v in json.load(open(d + '/tokenizer_config.json'))['added_tokens_decoder'].values()]
if name == 'internlm2':
    added += ['[UNUSED_TOKEN_145]', '[UNUSED_TOKEN_0]', '——', '……', 'Ａ']
WS = [' ', '  ', '\t', '\n', '\r', '\r\n', '\n\n', ' \n', '\u000b', '\u000c', '\u001c', '\u001d', '\u001e', '\u001f',
      '\u0085', '\u00a0', '\u1680', '\u180e', '\u2000', '\u2005', '\u200a', '\u200b', '\u2028', '\u2029', '\u202f',
      '\u205f', '\u3000', '\ufeff', '\u2581', '\u2581\u2581', ' \u2581', '\x00', '\x7f']
NEIGH = ['', 'x', 'Hi', 'hello', ' hello', '中文', "'s", '123', '<', '>', '|', '.', '😀', '\u0301', 'é', '<<', '>>']
texts = []
for t in added:
    for w in WS:
        for after in ('Hi', '', t, '中'):
            texts += [t + w + after, w + t + after, 'x' + w + t + w + after]
    for a in NEIGH:
        for b in NEIGH:
            texts.append(a + t + b)
    texts += [t * 5, t + ' ' + t, t[:-1] + t, t + t[1:], t[:-1], t[1:], t.upper(), t.lower()]
for w in WS:
    for k in (1, 2, 3, 7, 32, 33):
        texts += [w * k, 'a' + w * k, w * k + 'a', 'a' + w * k + 'b']
texts.append('')
# long words / long documents
for unit, k in [('a', 20000), ('ab', 10000), ('中', 10000), ('😀', 3000), ('1', 20000), (' ', 20000), ('\t', 5000),
                ('\n', 5000), ('é', 5000), ('e\u0301', 5000), ('hello', 5000), ('hello ', 8000), ('ก', 8000), ('\u2581', 5000),
                ('x\u200d', 5000), ("'s", 5000), ('\u00a0', 5000)]:
    texts.append(unit * k)
    texts.append('Start ' + unit * k + ' end.')
texts = list(dict.fromkeys(texts))
bad = []
for j in range(0, len(texts), 3000):
    part = texts[j:j + 3000]
    m, r = run_minivl(name, part), run_ref(name, part)
    bad += [dict(text=t, minivl=x, ref=y) for t, x, y in zip(part, m, r) if x != y]
with open(os.path.join(HERE, 'runs', name + '.targeted.jsonl'), 'w') as f:
    for x in bad:
        f.write(json.dumps(x) + '\n')
print('%s: %d targeted cases, %d disagree' % (name, len(texts), len(bad)))
for x in bad[:15]:
    print(' ', json.dumps(x['text'])[:120], json.dumps(x['minivl'], ensure_ascii=False)[:200], '|', json.dumps(x['ref'], ensure_ascii=False)[:200])
