// Reference for the byte-level BPE tokenizers: Hugging Face `tokenizers` (Rust, Node binding)
// usage: node ref_hf.js TOKENIZER_JSON [--lenml] < in.jsonl > out.jsonl
// in: {"text": ...} per line; out: {"ids": [...], "decoded": ...} per line.
// --lenml: use @lenml/tokenizers (transformers.js port) instead, as a second opinion.
const fs = require('fs');
const readline = require('readline');

async function main() {
  const file = process.argv[2];
  const lenml = process.argv.includes('--lenml');
  let enc, dec;
  if (lenml) {
    const { TokenizerLoader } = require('@lenml/tokenizers');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    const cfgPath = require('path').join(require('path').dirname(file), 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: cfg });
    enc = async (t) => tok.encode(t, { add_special_tokens: false });
    dec = async (ids) => tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  } else {
    const { Tokenizer } = require('tokenizers');
    const tok = Tokenizer.fromFile(file);
    enc = async (t) => (await tok.encode(t, null, { addSpecialTokens: false })).getIds();
    dec = async (ids) => tok.decode(ids, false);
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const out = [];
  for await (const line of rl) {
    if (!line.length) continue;
    const text = JSON.parse(line).text;
    const ids = Array.from(await enc(text));
    const decoded = await dec(ids);
    out.push(JSON.stringify({ ids, decoded }));
    if (out.length >= 256) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
