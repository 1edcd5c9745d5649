"""Shared helpers: run minivl and the references on a list of texts."""
import json, os, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))  # the repository
T = os.environ.get('MINIVL_SHARED', os.path.join(ROOT, '..', 'shared')) + '/tokenizers/'
MINIVL = os.environ.get('MINIVL', os.path.join(ROOT, 'build', 'minivl'))
PY = '/usr/bin/python3'

TOK = {
    'qwen2': dict(dir=T + 'qwen2-internvl2-1b', kind='hf'),
    'phi2': dict(dir=T + 'phi2-mipha-3b', kind='hf'),
    'internlm2': dict(dir=T + 'internlm2-internvl2-2b', kind='sp'),
    'phi3': dict(dir=T + 'phi3-internvl2-4b', kind='sp'),
    'alpaca': dict(dir=T + 'chinese-alpaca-internvl-c', kind='sp'),
}


def _run(cmd, texts, ensure_ascii=True):
    inp = ''.join(json.dumps({'text': t}, ensure_ascii=ensure_ascii) + '\n' for t in texts).encode('utf-8', 'surrogatepass')
    r = subprocess.run(cmd, input=inp, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError('%s rc=%d: %s' % (cmd, r.returncode, r.stderr[-2000:]))
    lines = r.stdout.decode('utf-8', 'surrogateescape').split('\n')
    outs = [json.loads(l) for l in lines if l.strip()]
    if len(outs) != len(texts):
        raise RuntimeError('%s: %d outputs for %d inputs' % (cmd, len(outs), len(texts)))
    return outs


def run_minivl(name, texts, ensure_ascii=False):
    return _run([MINIVL, 'tokenize', '-m', TOK[name]['dir'], '--jsonl'], texts, ensure_ascii)


def run_ref(name, texts, lenml=False):
    k = TOK[name]
    if k['kind'] == 'hf':
        cmd = ['node', os.path.join(HERE, 'ref_hf.js'), k['dir'] + '/tokenizer.json'] + (['--lenml'] if lenml else [])
    else:
        cmd = [PY, os.path.join(HERE, 'ref_sp.py'), name]
    return _run(cmd, texts, True)


def minivl_one(name, text, ensure_ascii=False):
    """robust single run (for shrinking): returns dict or {'error': ...}"""
    try:
        return run_minivl(name, [text], ensure_ascii)[0]
    except Exception as e:  # crash / bad output is a failure too
        return {'error': str(e)[:300]}
