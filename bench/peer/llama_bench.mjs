#!/usr/bin/env node
// llama_bench.mjs — the peer: llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on a GGUF
// file, timed on the same text workload as `minivl bench`: prefill of a 512-token prompt in one
// batch, and greedy decode steps at contexts 300 and 2000 (context filled first, then N steps timed,
// truncated back before each repetition). Token ids are the same fixed pseudo-random ids minivl
// bench uses. Prints one JSON object (medians over --reps).
//
// usage: node bench/peer/llama_bench.mjs MODEL.gguf [-t THREADS (2)] [--reps N (5)]
//          [--prefill N (512)] [--decode-tokens N (16)]
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const CONTEXTS = [300, 2000];

function parseArgs(argv) {
  const o = { threads: 2, reps: 5, prefill: 512, decodeTokens: 16, model: null };
  const keys = { "-t": "threads", "--threads": "threads", "--reps": "reps", "--prefill": "prefill",
    "--decode-tokens": "decodeTokens" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a in keys) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} expects a positive integer`);
      o[keys[a]] = v;
    } else if (!o.model && !a.startsWith("-")) o.model = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.model) throw new Error("usage: llama_bench.mjs MODEL.gguf [-t N] [--reps N] [--prefill N] [--decode-tokens N]");
  return o;
}

// The same xorshift32 sequence as tools/cmd_bench.c's workload_ids.
function workloadIds(n, vocab) {
  const ids = new Array(n);
  let x = 2463534242 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    ids[i] = x % vocab;
  }
  return ids;
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// Brings the sequence to exactly `len` tokens of ids.
async function fillTo(seq, ids, len) {
  if (seq.nextTokenIndex > len) await seq.clearHistory();
  if (seq.nextTokenIndex < len) await seq.evaluateWithoutGeneratingNewTokens(ids.slice(seq.nextTokenIndex, len));
}

// Median over reps of the rate of `steps` greedy decode steps after `ctx` tokens.
async function decodeRate(seq, ids, ctx, o) {
  await fillTo(seq, ids, ctx);
  const times = [];
  for (let r = 0; r < o.reps; r++) {
    if (seq.nextTokenIndex > ctx) await seq.eraseContextTokenRanges([{ start: ctx, end: seq.nextTokenIndex }]);
    const gen = seq.evaluate([ids[ctx]], { temperature: 0 });
    const t0 = performance.now();
    for (let i = 0; i < o.decodeTokens; i++) await gen.next(); // each yield is one decode step
    times.push(performance.now() - t0);
    await gen.return();
  }
  return (o.decodeTokens * 1000) / median(times);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: o.threads });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0 });
  const longest = Math.max(o.prefill, ...CONTEXTS) + 1;
  const context = await model.createContext({ contextSize: longest + o.decodeTokens + 1, batchSize: o.prefill,
    threads: { ideal: o.threads, min: o.threads }, sequences: 1 });
  const loadMs = performance.now() - t0;
  const seq = context.getSequence();
  const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const tok = workloadIds(longest, vocab);
  const prefill = [];
  for (let r = 0; r < o.reps; r++) {
    await seq.clearHistory();
    const p0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tok.slice(0, o.prefill));
    prefill.push(performance.now() - p0);
  }
  const decode = {};
  for (const c of CONTEXTS) decode[String(c)] = await decodeRate(seq, tok, c, o);
  const out = {
    model: o.model, backend: `llama.cpp via node-llama-cpp (${llama.buildType} ${llama.cpuMathCores} math cores)`,
    threads: context.currentThreads, reps: o.reps, load_ms: loadMs, prefill_tokens: o.prefill,
    prefill_tok_s: (o.prefill * 1000) / median(prefill), decode_steps: o.decodeTokens, decode_tok_s: decode,
    flash_attention: context.flashAttention,
  };
  console.log(JSON.stringify(out));
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e) => { console.error(`llama_bench: ${e.message}`); process.exit(1); });
