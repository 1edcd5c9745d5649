#!/usr/bin/env node
// gguf_write.mjs — exports the language model of an InternVL checkpoint (Qwen2 LLM: the
// language_model.* tensors) to a GGUF v3 file llama.cpp loads as architecture "qwen2", with the
// byte-level BPE tokenizer ("gpt2") from the checkpoint's tokenizer.json, so llama.cpp can run the
// very same weights minivl runs.
//
// usage: node bench/gguf_write.mjs CHECKPOINT_DIR OUT.gguf [--type bf16|f16|q8_0|q4_0]
//
// Types: 2-D weight matrices are written in --type; norms and biases stay F32 (as llama.cpp's own
// converter does). Q8_0 and Q4_0 follow ggml's block formats (32 values per block, an F16 scale):
//   Q8_0: d = max|x|/127, q = round(x/d)                     -> 2 + 32 bytes per block
//   Q4_0: d = m/-8 with m the value of largest magnitude,
//         q = min(15, trunc(x/d + 8.5)), element j in the low nibble of byte j and element j+16
//         in its high nibble                                  -> 2 + 16 bytes per block
// In a q4_0 file the output (lm_head) matrix is Q8_0: llama.cpp's quantizer likewise keeps that
// tensor at higher precision (Q6_K there), since it dominates the error.
import fs from "node:fs";
import path from "node:path";

const GGUF_TYPE = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8,
  ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 };
const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };
const FILE_TYPE = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 }; // llama_ftype "mostly X"
const TOKEN_TYPE = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 };
const ALIGN = 32;
const QK = 32; // values per quantization block

// ------------------------------------------------------------------ number conversion

const f32buf = new Float32Array(1), u32buf = new Uint32Array(f32buf.buffer);

function bf16ToF32(h) {
  u32buf[0] = h << 16;
  return f32buf[0];
}

// float32 -> IEEE half, round to nearest even (subnormals, overflow to inf, NaN kept).
function f32ToF16(x) {
  f32buf[0] = x;
  const u = u32buf[0], sign = (u >>> 16) & 0x8000, exp = (u >>> 23) & 0xff, man = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000, shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent: still correct
  return sign | h;
}

function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// ------------------------------------------------------------------ safetensors input

const DTYPE_BYTES = { BF16: 2, F16: 2, F32: 4 };

// Maps tensor name -> { file, dtype, shape, begin, end } over model.safetensors or its shards.
function openCheckpoint(dir) {
  const index = path.join(dir, "model.safetensors.index.json");
  const files = fs.existsSync(index)
    ? [...new Set(Object.values(JSON.parse(fs.readFileSync(index, "utf8")).weight_map))]
    : ["model.safetensors"];
  const tensors = new Map();
  for (const f of files) {
    const file = path.join(dir, f), fd = fs.openSync(file, "r"), lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const hlen = Number(lenBuf.readBigUInt64LE(0)), hbuf = Buffer.alloc(hlen);
    fs.readSync(fd, hbuf, 0, hlen, 8);
    const header = JSON.parse(hbuf.toString("utf8"));
    for (const [name, t] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      if (!(t.dtype in DTYPE_BYTES)) throw new Error(`${file}: ${name}: dtype ${t.dtype} not supported`);
      tensors.set(name, { fd, file, dtype: t.dtype, shape: t.shape, begin: 8 + hlen + t.data_offsets[0],
        end: 8 + hlen + t.data_offsets[1] });
    }
  }
  return tensors;
}

function readRaw(t) {
  const buf = Buffer.alloc(t.end - t.begin);
  let off = 0;
  while (off < buf.length) off += fs.readSync(t.fd, buf, off, buf.length - off, t.begin + off);
  return buf;
}

function readF32(t) {
  const raw = readRaw(t), n = raw.length / DTYPE_BYTES[t.dtype], out = new Float32Array(n);
  if (t.dtype === "F32") for (let i = 0; i < n; i++) out[i] = raw.readFloatLE(4 * i);
  else if (t.dtype === "BF16") for (let i = 0; i < n; i++) out[i] = bf16ToF32(raw.readUInt16LE(2 * i));
  else for (let i = 0; i < n; i++) out[i] = f16ToF32(raw.readUInt16LE(2 * i));
  return out;
}

// ------------------------------------------------------------------ tensor encodings

function encodeF32(x) {
  const b = Buffer.alloc(4 * x.length);
  for (let i = 0; i < x.length; i++) b.writeFloatLE(x[i], 4 * i);
  return b;
}

function encodeF16(x) {
  const b = Buffer.alloc(2 * x.length);
  for (let i = 0; i < x.length; i++) b.writeUInt16LE(f32ToF16(x[i]), 2 * i);
  return b;
}

// BF16 from BF16 is a byte copy; from F32/F16, round to nearest even.
function encodeBF16(t) {
  if (t.dtype === "BF16") return readRaw(t);
  const x = readF32(t), b = Buffer.alloc(2 * x.length);
  for (let i = 0; i < x.length; i++) {
    f32buf[0] = x[i];
    const u = u32buf[0];
    const r = Number.isNaN(x[i]) ? 0x7fc0 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    b.writeUInt16LE(r & 0xffff, 2 * i);
  }
  return b;
}

function encodeQ8_0(x) {
  const nb = x.length / QK, b = Buffer.alloc(nb * (2 + QK));
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[i * QK + j]));
    const d = amax / 127, id = d ? 1 / d : 0, o = i * (2 + QK);
    b.writeUInt16LE(f32ToF16(d), o);
    for (let j = 0; j < QK; j++) b.writeInt8(Math.round(x[i * QK + j] * id), o + 2 + j);
  }
  return b;
}

function encodeQ4_0(x) {
  const nb = x.length / QK, b = Buffer.alloc(nb * (2 + QK / 2));
  for (let i = 0; i < nb; i++) {
    let amax = 0, max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[i * QK + j];
      if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
    }
    const d = max / -8, id = d ? 1 / d : 0, o = i * (2 + QK / 2);
    b.writeUInt16LE(f32ToF16(d), o);
    for (let j = 0; j < QK / 2; j++) {
      const q0 = Math.min(15, Math.trunc(x[i * QK + j] * id + 8.5));
      const q1 = Math.min(15, Math.trunc(x[i * QK + QK / 2 + j] * id + 8.5));
      b[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return b;
}

// The ggml type one tensor gets in a file of the requested type.
function tensorType(t, name, type) {
  const quantizable = t.shape.length === 2 && t.shape[1] % QK === 0;
  if (!quantizable) return "f32";
  return type === "q4_0" && name === "output.weight" ? "q8_0" : type;
}

const TYPE_INFO = { // ggml id, bytes per block of `block` values
  f32: { ggml: GGML.F32, block: 1, bytes: 4 }, f16: { ggml: GGML.F16, block: 1, bytes: 2 },
  bf16: { ggml: GGML.BF16, block: 1, bytes: 2 }, q8_0: { ggml: GGML.Q8_0, block: QK, bytes: 2 + QK },
  q4_0: { ggml: GGML.Q4_0, block: QK, bytes: 2 + QK / 2 },
};

function tensorBytes(t, ttype) {
  const n = t.shape.reduce((a, b) => a * b, 1), info = TYPE_INFO[ttype];
  return (n / info.block) * info.bytes;
}

function encodeTensor(t, ttype) {
  switch (ttype) {
    case "f32": return encodeF32(readF32(t));
    case "f16": return encodeF16(readF32(t));
    case "bf16": return encodeBF16(t);
    case "q8_0": return encodeQ8_0(readF32(t));
    case "q4_0": return encodeQ4_0(readF32(t));
  }
  throw new Error(`unknown type ${ttype}`);
}

// ------------------------------------------------------------------ names

// HF Qwen2 names under language_model. -> llama.cpp's qwen2 names.
function ggufName(hf) {
  const m = hf.match(/^language_model\.(.*)$/);
  if (!m) return null;
  const n = m[1];
  const fixed = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight" };
  if (n in fixed) return fixed[n];
  const l = n.match(/^model\.layers\.(\d+)\.(.*)$/);
  if (!l) throw new Error(`${hf}: no GGUF name for this tensor`);
  const parts = { "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight" };
  if (!(l[2] in parts)) throw new Error(`${hf}: no GGUF name for this tensor`);
  return `blk.${l[1]}.${parts[l[2]]}`;
}

// ------------------------------------------------------------------ tokenizer

// tokens, token types and merges as llama.cpp's "gpt2" tokenizer wants them, padded to n_vocab.
function loadTokenizer(dir, nVocab) {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  if (tj.model.type !== "BPE") throw new Error(`${dir}/tokenizer.json: model type ${tj.model.type} is not BPE`);
  const tokens = new Array(nVocab).fill(null), types = new Array(nVocab).fill(TOKEN_TYPE.UNUSED);
  for (const [tok, id] of Object.entries(tj.model.vocab)) if (id < nVocab) { tokens[id] = tok; types[id] = TOKEN_TYPE.NORMAL; }
  for (const a of tj.added_tokens || [])
    if (a.id < nVocab) { tokens[a.id] = a.content; types[a.id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED; }
  for (let i = 0; i < nVocab; i++) if (tokens[i] === null) tokens[i] = `[PAD${i}]`;
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  return { tokens, types, merges };
}

// ------------------------------------------------------------------ GGUF output

class Out {
  constructor() { this.chunks = []; this.size = 0; }
  push(b) { this.chunks.push(b); this.size += b.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  bool(v) { this.push(Buffer.from([v ? 1 : 0])); }
}

function writeKV(o, key, type, value, itemType) {
  o.str(key);
  o.u32(type);
  const put = (t, v) => {
    switch (t) {
      case GGUF_TYPE.UINT32: o.u32(v); break;
      case GGUF_TYPE.INT32: o.i32(v); break;
      case GGUF_TYPE.FLOAT32: o.f32(v); break;
      case GGUF_TYPE.BOOL: o.bool(v); break;
      case GGUF_TYPE.STRING: o.str(v); break;
      default: throw new Error(`unsupported GGUF value type ${t}`);
    }
  };
  if (type !== GGUF_TYPE.ARRAY) return put(type, value);
  o.u32(itemType);
  o.u64(value.length);
  for (const v of value) put(itemType, v);
}

function metadata(cfg, tok, type, name) {
  const l = cfg.llm_config, U = GGUF_TYPE.UINT32, F = GGUF_TYPE.FLOAT32;
  const kv = [
    ["general.architecture", GGUF_TYPE.STRING, "qwen2"],
    ["general.name", GGUF_TYPE.STRING, name],
    ["general.file_type", U, FILE_TYPE[type]],
    ["general.alignment", U, ALIGN],
    ["qwen2.context_length", U, l.max_position_embeddings],
    ["qwen2.embedding_length", U, l.hidden_size],
    ["qwen2.block_count", U, l.num_hidden_layers],
    ["qwen2.feed_forward_length", U, l.intermediate_size],
    ["qwen2.attention.head_count", U, l.num_attention_heads],
    ["qwen2.attention.head_count_kv", U, l.num_key_value_heads ?? l.num_attention_heads],
    ["qwen2.rope.freq_base", F, l.rope_theta ?? 10000],
    ["qwen2.attention.layer_norm_rms_epsilon", F, l.rms_norm_eps ?? 1e-6],
    ["tokenizer.ggml.model", GGUF_TYPE.STRING, "gpt2"],
    ["tokenizer.ggml.pre", GGUF_TYPE.STRING, "qwen2"],
    ["tokenizer.ggml.tokens", GGUF_TYPE.ARRAY, tok.tokens, GGUF_TYPE.STRING],
    ["tokenizer.ggml.token_type", GGUF_TYPE.ARRAY, tok.types, GGUF_TYPE.INT32],
    ["tokenizer.ggml.merges", GGUF_TYPE.ARRAY, tok.merges, GGUF_TYPE.STRING],
    ["tokenizer.ggml.add_bos_token", GGUF_TYPE.BOOL, false],
  ];
  if (l.bos_token_id != null) kv.push(["tokenizer.ggml.bos_token_id", U, l.bos_token_id]);
  if (l.eos_token_id != null) kv.push(["tokenizer.ggml.eos_token_id", U, l.eos_token_id]);
  kv.push(["tokenizer.ggml.padding_token_id", U, l.pad_token_id ?? l.bos_token_id ?? 0]);
  return kv;
}

function pad(n) { return (ALIGN - (n % ALIGN)) % ALIGN; }

function main() {
  const args = process.argv.slice(2);
  let type = "bf16";
  const ti = args.indexOf("--type");
  if (ti >= 0) { type = args[ti + 1]; args.splice(ti, 2); }
  if (args.length !== 2 || !(type in FILE_TYPE) || type === "f32") {
    console.error("usage: node gguf_write.mjs CHECKPOINT_DIR OUT.gguf [--type bf16|f16|q8_0|q4_0]");
    process.exit(2);
  }
  const [dir, outPath] = args;
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const arch = cfg.llm_config?.architectures?.[0];
  if (arch !== "Qwen2ForCausalLM") throw new Error(`${dir}/config.json: LLM ${arch} is not Qwen2ForCausalLM`);
  const tensors = openCheckpoint(dir);
  const names = [...tensors.keys()].filter((n) => n.startsWith("language_model.")).sort();
  const list = names.map((hf) => ({ hf, name: ggufName(hf), t: tensors.get(hf) }));
  const embd = list.find((e) => e.name === "token_embd.weight");
  if (!embd) throw new Error(`${dir}: no language_model.model.embed_tokens.weight`);
  const nVocab = embd.t.shape[0];
  const tok = loadTokenizer(dir, nVocab);

  // Sizes follow from shapes and types, so the layout is known before any tensor is encoded and
  // tensors are then encoded and written one at a time.
  let offset = 0;
  for (const e of list) {
    e.type = tensorType(e.t, e.name, type);
    e.bytes = tensorBytes(e.t, e.type);
    e.offset = offset;
    offset += e.bytes + pad(e.bytes);
  }
  const head = new Out();
  head.push(Buffer.from("GGUF", "ascii"));
  head.u32(3);
  head.u64(list.length);
  const kv = metadata(cfg, tok, type, `${path.basename(path.resolve(dir))} language model (${type})`);
  head.u64(kv.length);
  for (const [k, t, v, it] of kv) writeKV(head, k, t, v, it);
  for (const e of list) {
    head.str(e.name);
    head.u32(e.t.shape.length);
    for (const d of [...e.t.shape].reverse()) head.u64(d); // ggml's ne[0] is the fastest dimension
    head.u32(TYPE_INFO[e.type].ggml);
    head.u64(e.offset);
  }
  head.push(Buffer.alloc(pad(head.size)));
  const fd = fs.openSync(outPath + ".tmp", "w");
  for (const c of head.chunks) fs.writeSync(fd, c);
  for (const e of list) {
    const data = encodeTensor(e.t, e.type);
    if (data.length !== e.bytes) throw new Error(`${e.hf}: encoded ${data.length} bytes, expected ${e.bytes}`);
    fs.writeSync(fd, data);
    fs.writeSync(fd, Buffer.alloc(pad(data.length)));
  }
  fs.closeSync(fd);
  fs.renameSync(outPath + ".tmp", outPath);
  // One JSON line for bench/report.mjs: decode reads every tensor once per token except the
  // embedding table (one row), so that is the bandwidth bound's bytes per token.
  const perToken = list.filter((e) => e.name !== "token_embd.weight").reduce((a, e) => a + e.bytes, 0);
  console.log(JSON.stringify({ file: outPath, type, tensors: list.length, bytes: fs.statSync(outPath).size,
    decode_bytes_per_token: perToken }));
}

main();
