#!/usr/bin/python3
"""Reference for the SentencePiece tokenizers (Google sentencepiece 0.1.97 + port of the
transformers 4.37 slow-tokenizer wrapper logic described in shared/tokenizers/README.md).

usage: ref_sp.py {internlm2|phi3|alpaca}  < in.jsonl  > out.jsonl
in: {"text": ...} per line; out: {"ids": [...], "decoded": ...} per line.
"""
import json, os, sys
import sentencepiece as spm

T = os.environ.get('MINIVL_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'shared')) + '/tokenizers/'
SPU = '\u2581'


# ---- minimal protobuf editing: set NormalizerSpec.add_dummy_prefix ----
def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1
        r |= (c & 0x7f) << s; s += 7
        if not c & 0x80:
            return r, i


def _enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7f; v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c); return bytes(out)


def _fields(b):
    i = 0
    while i < len(b):
        st = i
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            _, i = _varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 2:
            n, i = _varint(b, i); i += n
        elif wt == 5:
            i += 4
        else:
            raise ValueError(wt)
        yield f, wt, b[st:i]


def _payload(raw):
    key, i = _varint(raw, 0)
    n, i = _varint(raw, i)
    return raw[i:i + n]


def set_dummy_prefix(model_bytes, value):
    out = bytearray()
    for f, wt, raw in _fields(model_bytes):
        if f == 3 and wt == 2:
            ns = bytearray()
            for f2, wt2, raw2 in _fields(_payload(raw)):
                if f2 != 3:
                    ns += raw2
            ns += bytes([3 << 3 | 0, 1 if value else 0])
            out += bytes([3 << 3 | 2]) + _enc_varint(len(ns)) + ns
        else:
            out += raw
    return bytes(out)


def get_dummy_prefix(model_bytes):
    for f, wt, raw in _fields(model_bytes):
        if f == 3 and wt == 2:
            for f2, wt2, raw2 in _fields(_payload(raw)):
                if f2 == 3:
                    return bool(_varint(raw2, 1)[0])
    return True  # proto default


def load(path, dummy=None):
    b = open(path, 'rb').read()
    if dummy is not None:
        b = set_dummy_prefix(b, dummy)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(b)
    return sp


class Added:
    def __init__(self, content, id, rstrip=False, lstrip=False):
        self.content, self.id, self.rstrip, self.lstrip = content, id, rstrip, lstrip


def split_added(text, added):
    """leftmost-longest split on added tokens (== transformers Trie.split for these token sets,
    where no token is a substring of another)."""
    toks = sorted(added, key=lambda a: -len(a.content))
    out, seg, i = [], 0, 0
    while i < len(text):
        m = None
        if text[i] == '<' or text[i] == '[':
            for a in toks:
                if text.startswith(a.content, i):
                    m = a; break
        if m:
            out.append(text[seg:i]); out.append(m)
            i += len(m.content); seg = i
        else:
            i += 1
    out.append(text[seg:])
    # out alternates str, Added, str, ...
    return out


def slow_tokenize(text, added, seg_tok):
    parts = split_added(text, added)
    # lstrip/rstrip of added tokens (PreTrainedTokenizer.tokenize, transformers 4.37)
    for i, p in enumerate(parts):
        if isinstance(p, Added):
            left = parts[i - 1] if i > 0 else None
            right = parts[i + 1] if i < len(parts) - 1 else None
            if p.rstrip and right and isinstance(right, str):
                parts[i + 1] = right.lstrip()
            if p.lstrip and left and isinstance(left, str):
                parts[i - 1] = left.rstrip()
    toks = []
    for p in parts:
        if isinstance(p, Added):
            toks.append(p)
        elif p:
            toks.extend(seg_tok(p))
    return toks


class SPTok:
    def __init__(self, name):
        self.name = name
        if name == 'internlm2':
            d = T + 'internlm2-internvl2-2b/'
            self.sp = load(d + 'tokenizer.model')
            assert not get_dummy_prefix(open(d + 'tokenizer.model', 'rb').read())
            cfg = json.load(open(d + 'tokenizer_config.json'))
        elif name == 'phi3':
            d = T + 'phi3-internvl2-4b/'
            self.sp = load(d + 'tokenizer.model', dummy=False)  # legacy=False: get_spm_processor
            cfg = json.load(open(d + 'tokenizer_config.json'))
        elif name == 'alpaca':
            d = T + 'chinese-alpaca-internvl-c/'
            self.sp = load(d + 'tokenizer.model')  # legacy=True: model as is
            cfg = None
        else:
            raise ValueError(name)
        if cfg:
            self.added = [Added(v['content'], int(k), v['rstrip'], v['lstrip'])
                          for k, v in cfg['added_tokens_decoder'].items()]
        else:
            self.added = [Added('<unk>', 0), Added('<s>', 1), Added('</s>', 2), Added('[PAD]', 49953)]
        self.by_id = {a.id: a.content for a in self.added}
        self.unk_len = len(self.sp.encode('<unk>', out_type=str))

    def _seg(self, s):
        if self.name == 'phi3':
            toks = self.sp.encode(s, out_type=str)
            if not s.startswith((SPU, ' ')):
                return toks
            toks = self.sp.encode('<unk>' + s, out_type=str)
            return toks[self.unk_len:] if len(toks) >= self.unk_len else toks
        return self.sp.encode(s, out_type=str)

    def encode(self, text):
        if self.name == 'phi3':
            if len(text) == 0:
                return []
            toks = slow_tokenize(SPU + text.replace(SPU, ' '), self.added, self._seg)
            special = {'<s>', '<|endoftext|>', '<unk>'}
            if len(toks) > 1 and toks[0] == SPU and isinstance(toks[1], Added) and toks[1].content in special:
                toks = toks[1:]
        else:
            toks = slow_tokenize(text, self.added, self._seg)
        return [t.id if isinstance(t, Added) else self.sp.piece_to_id(t) for t in toks]

    def decode(self, ids):
        b = bytearray()
        for i in ids:
            if i in self.by_id:
                b += self.by_id[i].encode()
                continue
            p = self.sp.id_to_piece(i)
            if len(p) == 6 and p.startswith('<0x') and p.endswith('>'):
                b.append(int(p[3:5], 16))
            else:
                b += p.replace(SPU, ' ').encode()
        s = b.decode('utf-8', errors='replace')
        if self.name in ('phi3', 'alpaca') and s.startswith(' '):
            s = s[1:]
        return s


def main():
    tok = SPTok(sys.argv[1])
    out = sys.stdout
    for line in sys.stdin:
        text = json.loads(line)['text']
        ids = tok.encode(text)
        out.write(json.dumps({'ids': ids, 'decoded': tok.decode(ids)}, ensure_ascii=False) + '\n')


if __name__ == '__main__':
    main()
