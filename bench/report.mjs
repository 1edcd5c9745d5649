#!/usr/bin/env node
// report.mjs — turns the JSON files bench/run.sh collected in one directory into the results
// table (Markdown) with the ratios the issue asks for:
//   vision ms/tile vs the compute bound (the tile's FLOPs at the probe's best floating-point peak;
//   with the encoder's matrices in 8 bits, their products at the int8 peak and the attention at the
//   floating-point one),
//   prefill tok/s vs llama.cpp (Q8_0 and the others),
//   decode tok/s vs the bandwidth bound (probe GB/s / bytes read per token) and vs llama.cpp at the
//   same bit width, 2000-context rate vs the 300-context rate,
//   load time, and peak RSS vs the weights.
//
// usage: node bench/report.mjs RESULTS_DIR MODEL_DIR
// RESULTS_DIR holds bw[@round].json, flops[@round].json, minivl-<precision>-<quant>[-v<vision quant>][@round].json, gguf-<type>.json and
// llama-<type>[@round].json (any of the last three may be missing: their rows are left out).
import fs from "node:fs";
import path from "node:path";

const [dir, modelDir] = process.argv.slice(2);
if (!dir || !modelDir) {
  console.error("usage: node bench/report.mjs RESULTS_DIR MODEL_DIR");
  process.exit(2);
}
const load = (f) => {
  const p = path.join(dir, f);
  if (!fs.existsSync(p)) return null;
  const text = fs.readFileSync(p, "utf8").trim().split("\n").filter((l) => l.startsWith("{")).pop();
  return text ? JSON.parse(text) : null;
};
const files = fs.readdirSync(dir);
// Results of several rounds (NAME@ROUND.json, run.sh's ROUNDS) become one object: every number is
// its median over the rounds (nested objects field by field), the rest comes from the first round.
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
function mergeRounds(objs) {
  const first = objs[0], merged = {};
  for (const [k, v] of Object.entries(first)) {
    const all = objs.map((o) => o[k]);
    if (typeof v === "number" && all.every((x) => typeof x === "number")) merged[k] = median(all);
    else if (v && typeof v === "object" && !Array.isArray(v) && all.every((x) => x && typeof x === "object"))
      merged[k] = mergeRounds(all);
    else merged[k] = v;
  }
  return merged;
}
const rounds = {}; // NAME -> [results of each round]
for (const f of files.filter((f) => /^(minivl|llama)-.*\.json$/.test(f)).sort()) {
  const r = load(f);
  if (r) (rounds[f.replace(/(@\d+)?\.json$/, "")] ??= []).push(r);
}
const loadRounds = (name) => (rounds[name] ? mergeRounds(rounds[name]) : null);
// the probes of every round (bw@ROUND.json, flops@ROUND.json; one bw.json / flops.json from older
// runs), merged the same way
const probe = (name) => {
  const all = files.filter((f) => new RegExp(`^${name}(@\\d+)?\\.json$`).test(f)).sort().map(load).filter(Boolean);
  return all.length ? mergeRounds(all) : null;
};
const bw = probe("bw"), flops = probe("flops");
const ours = Object.keys(rounds).filter((k) => k.startsWith("minivl-")).sort().map(loadRounds);
const nRounds = Math.max(0, ...Object.values(rounds).map((v) => v.length));
const TYPES = ["bf16", "f16", "q8_0", "q4_0"];
const gguf = Object.fromEntries(TYPES.map((t) => [t, load(`gguf-${t}.json`)]).filter(([, v]) => v));
const peer = Object.fromEntries(TYPES.map((t) => [t, loadRounds(`llama-${t}`)]).filter(([, v]) => v));
const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, "config.json"), "utf8"));

// FLOPs of one tile through the vision encoder: per layer QKV+proj (4D²) and MLP (2DF) per token
// (the matrix products), plus QKᵀ and PV (2·N²·D: the attention); multiply-adds count 2. Patch
// embedding and projector are <1% and left out.
function visionFlopsPerTile(c) {
  const v = c.vision_config, D = v.hidden_size, F = v.intermediate_size, L = v.num_hidden_layers;
  const N = (v.image_size / v.patch_size) ** 2 + 1;
  const products = L * 2 * N * (4 * D * D + 2 * D * F), attention = L * 2 * 2 * N * N * D;
  return { products, attention, total: products + attention };
}

const f1 = (x) => (x == null || !Number.isFinite(x) ? "–" : x.toFixed(1));
const f2 = (x) => (x == null || !Number.isFinite(x) ? "–" : x.toFixed(2));
const pct = (x) => (x == null || !Number.isFinite(x) ? "–" : `${(100 * x).toFixed(0)}%`);
const gbs = bw ? bw.read_gb_s : null;
// Our bytes per token: a BF16/F16 checkpoint reads what the bf16 GGUF holds; our q8/q4 formats are
// estimated by ggml's blocks of the same width (Q8_0: 8.5 bits, Q4_0: 4.5 bits per weight).
const bytesFor = (quant) => (gguf[{ none: "bf16", q8: "q8_0", q4: "q4_0" }[quant]] || {}).decode_bytes_per_token;
const bound = (bytes) => (gbs && bytes ? (gbs * 1e9) / bytes : null);
const name = (o) => `minivl ${o.precision}${o.quant !== "none" ? "/" + o.quant : ""}` +
  (o.quant_vision && o.quant_vision !== "none" ? `, vision ${o.quant_vision}` : "");

const out = [];
out.push(`Machine limits (same run): memory read ${f1(gbs)} GB/s (${bw ? bw.threads : "?"} threads, median); ` +
  `FP32 FMA AVX-512 ${f1(flops?.fp32_fma_avx512_gflop_s)} GFLOP/s, AVX2 ${f1(flops?.fp32_fma_avx2_gflop_s)}, ` +
  `AVX512-BF16 vdpbf16ps ${f1(flops?.bf16_dp_avx512_gflop_s)} GFLOP/s, AVX512-VNNI vpdpbusd ` +
  `${f1(flops?.int8_dp_avx512vnni_gop_s)} GOP/s; AMX-BF16 ${flops?.amx_bf16 ? "present" : "absent"}.` +
  (nRounds > 1 ? ` Every figure below is the median over ${nRounds} interleaved rounds.` : ""));
out.push("");

// Vision
const vflops = visionFlopsPerTile(cfg);
const peak = flops ? Math.max(flops.fp32_fma_avx512_gflop_s || 0, flops.bf16_dp_avx512_gflop_s || 0, flops.fp32_fma_avx2_gflop_s || 0) : 0;
const int8Peak = flops?.int8_dp_avx512vnni_gop_s || 0;
// ms: every FLOP at the best floating-point peak, or 8-bit matrices' products at the int8 peak
const vbound = (o) => {
  if (!peak) return null;
  if (o.quant_vision && o.quant_vision !== "none" && int8Peak)
    return (vflops.products / (int8Peak * 1e9) + vflops.attention / (peak * 1e9)) * 1e3;
  return (vflops.total / (peak * 1e9)) * 1e3;
};
out.push(`| vision, one 448 tile (${(vflops.total / 1e12).toFixed(2)} TFLOP) | ms/tile | compute bound at ${f1(peak)} GFLOP/s` +
  `${int8Peak ? ` (8-bit matrices: their products at ${f1(int8Peak)} GOP/s)` : ""} | % of bound |`);
out.push("|---|---|---|---|");
for (const o of ours) out.push(`| ${name(o)} | ${f1(o.vision_ms_per_tile)} | ${f1(vbound(o))} ms | ${pct(vbound(o) / o.vision_ms_per_tile)} |`);
out.push("");

// Prefill
const q8 = peer.q8_0?.prefill_tok_s;
out.push("| prefill, 512 tokens | tok/s | vs llama.cpp Q8_0 |");
out.push("|---|---|---|");
for (const o of ours) out.push(`| ${name(o)} | ${f1(o.prefill_tok_s)} | ${q8 ? f2(o.prefill_tok_s / q8) + "×" : "–"} |`);
for (const [t, p] of Object.entries(peer)) out.push(`| llama.cpp ${t.toUpperCase()} | ${f1(p.prefill_tok_s)} | ${q8 ? f2(p.prefill_tok_s / q8) + "×" : "–"} |`);
out.push("");

// Decode
out.push("| decode | bytes/token | bound tok/s | tok/s @300 | % of bound | tok/s @2000 | @2000 / @300 | vs llama.cpp same width @300 |");
out.push("|---|---|---|---|---|---|---|---|");
const peerFor = (quant) => peer[{ none: "bf16", q8: "q8_0", q4: "q4_0" }[quant]];
for (const o of ours) {
  const bytes = bytesFor(o.quant), b = bound(bytes), d = o.decode_tok_s, p = peerFor(o.quant);
  out.push(`| ${name(o)} | ${bytes ? (bytes / 2 ** 20).toFixed(0) + " MiB" : "–"} | ${f1(b)} | ${f2(d["300"])} | ${pct(d["300"] / b)} | ` +
    `${f2(d["2000"])} | ${pct(d["2000"] / d["300"])} | ${p ? f2(d["300"] / p.decode_tok_s["300"]) + "×" : "–"} |`);
}
for (const [t, p] of Object.entries(peer)) {
  const bytes = gguf[t]?.decode_bytes_per_token, b = bound(bytes), d = p.decode_tok_s;
  out.push(`| llama.cpp ${t.toUpperCase()} | ${bytes ? (bytes / 2 ** 20).toFixed(0) + " MiB" : "–"} | ${f1(b)} | ${f2(d["300"])} | ` +
    `${pct(d["300"] / b)} | ${f2(d["2000"])} | ${pct(d["2000"] / d["300"])} | 1.00× |`);
}
out.push("");

// Load and memory
out.push("| load and memory | load to ready | peak RSS | weights | RSS / weights |");
out.push("|---|---|---|---|---|");
for (const o of ours) out.push(`| ${name(o)} | ${f1(o.load_ms)} ms | ${f1(o.peak_rss_mb)} MiB | ${f1(o.weights_mb)} MiB | ${pct(o.peak_rss_mb / o.weights_mb)} |`);
for (const [t, p] of Object.entries(peer)) out.push(`| llama.cpp ${t.toUpperCase()} (LLM only) | ${f1(p.load_ms)} ms | – | ${f1((gguf[t]?.bytes || 0) / 2 ** 20)} MiB | – |`);
console.log(out.join("\n"));
