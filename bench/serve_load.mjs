// serve_load.mjs — bounded load test of `minivl serve` with the official openai client.
//
// Starts the server itself (so it can read its RSS), then runs C concurrent clients for S seconds:
// a mix of text and image requests, streamed and not, and some streamed clients that hang up after a
// few chunks (their generation must be cancelled). A 429 is an intended refusal: the client waits
// Retry-After and tries again. Anything else that fails counts as a failure. Prints one JSON line:
// throughput, counts, RSS after warm-up and after the run.
//
//   node bench/serve_load.mjs --bin build/minivl --model build/models/tiny-qwen2 \
//        --node-dir build/serve-node --images ../shared/golden/images [--clients 64] [--seconds 60] \
//        [--parallel 4] [--threads 2] [--max-tokens 32] [--queue 64] [--mix mixed|text] [--hangups on|off]
//        [--temperature 0.8] [--warmup 10]
// --mix text sends only text requests and --hangups off keeps every client to the end of its answer:
// the setting for a throughput figure, where image encoding and cancelled work would blur the
// decode scaling. --temperature 0 makes every request greedy (sampling at T > 0 sorts the whole
// vocabulary per token in the library, which is CPU time outside the batched forward pass).
// The warm-up runs all clients for --warmup seconds, so that per-thread allocator arenas and caches
// reach their working size before the RSS baseline; RssAnon is then sampled every 5 s through the run.
// "seconds" includes the drain: requests already admitted or queued at the deadline are finished.
// The model id is the --model directory's name, as the server names it.
// (build/serve-node holds the openai package: `tests/serve/npm_install.sh build/serve-node`.)
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const opt = { clients: 64, seconds: 60, parallel: 4, threads: 2, 'max-tokens': 32, queue: 64, mix: 'mixed', hangups: 'on',
              temperature: 0.8, warmup: 10 };
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['clients', 'seconds', 'parallel', 'threads', 'max-tokens', 'queue', 'temperature', 'warmup']) opt[k] = Number(opt[k]);
if (!['mixed', 'text'].includes(opt.mix) || !['on', 'off'].includes(opt.hangups)) throw new Error('--mix mixed|text, --hangups on|off');
const OpenAI = createRequire(path.resolve(opt['node-dir'], 'package.json'))('openai');
const modelId = path.basename(path.resolve(opt.model));
const image = opt.mix === 'text' ? null : `data:image/png;base64,${fs.readFileSync(`${opt.images}/chelsea.png`).toString('base64')}`;

// RssAnon is the heap (where a leak would show); VmRSS adds the file pages of the memory-mapped
// weights, which grow as sampling touches new rows of the embedding table (bounded by its size).
const rssKb = (pid, kind = 'RssAnon') => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${kind}:\\s+(\\d+)`))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer() {
  const proc = spawn(opt.bin, ['serve', '-m', opt.model, '--port', '0', '-t', String(opt.threads), '--parallel', String(opt.parallel),
                               '--queue', String(opt.queue)], { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => { log += d; const m = log.match(/on http:\/\/[^:]+:(\d+)/); if (m) resolve(Number(m[1])); });
    proc.on('exit', (c) => reject(new Error(`server exited ${c}: ${log}`)));
  });
  return { proc, port };
}

const stats = { ok: 0, rejected: 0, failed: 0, hangups: 0, tokens: 0, errors: [] };

function request(i) {
  const kind = i % 10; // 3 in 10 carry an image: one tile, or (1 in 30 requests) all tiles
  const content = image && kind < 3 ? [{ type: 'image_url', image_url: { url: image, detail: i % 30 === 0 ? 'high' : 'low' } },
                              { type: 'text', text: 'What is in the picture?' }]
                           : `Client question number ${i}: tell me something.`;
  return { model: modelId, max_tokens: opt['max-tokens'], temperature: opt.temperature, seed: i,
           messages: [{ role: 'user', content }] };
}

async function once(client, i) {
  const body = request(i);
  const mode = i % 7; // 0: hang up mid-stream (or stream when --hangups off), 1-3: stream, else plain
  if (mode === 0 && opt.hangups === 'on') {
    const ac = new AbortController();
    const s = await client.chat.completions.create({ ...body, stream: true }, { signal: ac.signal });
    let n = 0;
    try { for await (const c of s) { if (++n === 3) { ac.abort(); break; } } } catch { /* aborted */ }
    stats.hangups++;
    return;
  }
  if (mode <= 3) {
    const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let usage = null;
    for await (const c of s) if (c.usage) usage = c.usage;
    stats.tokens += usage.completion_tokens;
  } else {
    const r = await client.chat.completions.create(body);
    stats.tokens += r.usage.completion_tokens;
  }
  stats.ok++;
}

async function clientLoop(client, id, until) {
  for (let i = id; Date.now() < until; i += opt.clients) {
    try { await once(client, i); }
    catch (e) {
      if (e.status === 429) { stats.rejected++; await sleep(1000); }
      else { stats.failed++; if (stats.errors.length < 5) stats.errors.push(String(e.message || e)); }
    }
  }
}

const { proc, port } = await startServer();
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600000 });
const mb = (kb) => +(kb / 1024).toFixed(1);
const rssStart = rssKb(proc.pid), vmStart = rssKb(proc.pid, 'VmRSS');
await Promise.all(Array.from({ length: opt.clients }, (_, k) => clientLoop(client, k + 100000, Date.now() + opt.warmup * 1000)));
const warmup = { ok: stats.ok, failed: stats.failed, errors: [...stats.errors] };
await sleep(500);
const rssWarm = rssKb(proc.pid);
for (const k of ['ok', 'rejected', 'failed', 'hangups', 'tokens']) stats[k] = 0;
stats.errors = [];
const t0 = Date.now();
const rssSamples = [];
const sampler = setInterval(() => rssSamples.push(mb(rssKb(proc.pid))), 5000);
await Promise.all(Array.from({ length: opt.clients }, (_, k) => clientLoop(client, k, t0 + opt.seconds * 1000)));
const elapsed = (Date.now() - t0) / 1000;
clearInterval(sampler);
await sleep(1000);
const rssAfter = rssKb(proc.pid), vmAfter = rssKb(proc.pid, 'VmRSS');
const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
proc.kill('SIGTERM');
const code = await new Promise((r) => proc.on('exit', (c) => r(c)));
const line = (name) => Number((metrics.match(new RegExp(`^${name} (\\S+)`, 'm')) || [])[1]);
console.log(JSON.stringify({
  model: modelId, mix: opt.mix, hangup_clients: opt.hangups, temperature: opt.temperature, parallel: opt.parallel,
  threads: opt.threads, clients: opt.clients, seconds: Math.round(elapsed), ok: stats.ok, hangups: stats.hangups,
  rejected_429: stats.rejected, failed: stats.failed + warmup.failed, errors: [...warmup.errors, ...stats.errors], warmup_ok: warmup.ok,
  completion_tok_s: +(stats.tokens / elapsed).toFixed(1), requests_s: +(stats.ok / elapsed).toFixed(2),
  server_cancelled: line('minivl_requests_cancelled_total'), active_after: line('minivl_active_sessions'),
  // server-side seconds over its whole life (warm-up included): where the engine thread's time went
  server_prefill_s: +line('minivl_prefill_seconds_total').toFixed(1), server_vision_s: +line('minivl_vision_seconds_total').toFixed(1),
  server_decode_s: +line('minivl_decode_seconds_total').toFixed(1),
  anon_start_mb: mb(rssStart), anon_warm_mb: mb(rssWarm), anon_samples_mb: rssSamples, anon_after_mb: mb(rssAfter),
  vmrss_start_mb: mb(vmStart), vmrss_after_mb: mb(vmAfter), exit_code: code,
}));
process.exit(stats.failed || warmup.failed || code !== 0 ? 1 : 0);
