// serve_bad.mjs — bad input and operational cases of `minivl serve`, one case per CTest test: each
// error has the right HTTP status and OpenAI's error shape, and the server survives it.
// Usage: node serve_bad.mjs BIN MODEL SHARED CASE
import net from 'node:net';
import zlib from 'node:zlib';
import { SHARED, ARGS, check, startServer, post, runCli, dataUrl, done } from './serve_util.mjs';

const which = ARGS[0];
const chelsea = `${SHARED}/golden/images/chelsea.png`;
const user = (content) => ({ model: 'tiny-qwen2', max_tokens: 4, messages: [{ role: 'user', content }] });
const withImage = (url) => user([{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'What is it?' }]);

function isError(r, status, code, param) {
  const e = r.json && r.json.error;
  const shaped = e && typeof e.message === 'string' && e.message.length > 0 && typeof e.type === 'string' &&
                 'param' in e && 'code' in e;
  check(r.status === status, `HTTP ${status} (got ${r.status})`);
  check(shaped, `OpenAI error shape: ${r.text.slice(0, 200)}`);
  if (code !== undefined) check(e && e.code === code, `code ${code}`);
  if (param !== undefined) check(e && e.param === param, `param ${param}`);
}

async function stillServes(base, headers) {
  const r = await post(base, user('Hi'), headers);
  check(r.status === 200 && r.json.choices[0].message.content.length > 0, 'the server still answers afterwards');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A bare TCP connect (no pooled keep-alive connection can hide the answer): 'open' or the error code.
function tryConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve('open'); });
    sock.once('error', (e) => resolve(e.code));
  });
}

// A long stream is in flight when the signal comes: new connections are refused at once, the stream
// still ends properly, the server exits 0.
async function shutdownInflight(s, signal) {
  const res = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST',
    body: JSON.stringify({ ...user('Hi'), max_tokens: 400, stream: true }) }); // well within the 10 s grace, also under ASan
  const reader = res.body.getReader();
  await reader.read();
  const stopped = s.stop(signal);
  s.stopped = true;
  let text = '', streamDone = false;
  const reading = (async () => {
    for (;;) { const { done: d, value } = await reader.read(); if (d) break; text += Buffer.from(value).toString(); }
    streamDone = true;
  })();
  let refused = false, whileStreaming = false;
  for (let i = 0; i < 40 && !refused; i++) {
    await sleep(50);
    refused = (await tryConnect(s.port)) === 'ECONNREFUSED';
    whileStreaming = refused && !streamDone;
  }
  await reading;
  check(refused && whileStreaming, `after ${signal} new connections are refused while the in-flight stream goes on`);
  check(text.trimEnd().endsWith('data: [DONE]') && text.includes('"finish_reason":"length"'), `an in-flight stream is finished after ${signal}`);
  await stopped;
}

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (const b of buf) { c = (crc ^ b) & 0xff; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; crc = (crc >>> 8) ^ c; }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
// A valid PNG whose header claims w x h pixels: the limit is checked before any pixel is decoded.
function hugePng(w, h) {
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  const png = Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
  return `data:image/png;base64,${png.toString('base64')}`;
}

const cases = {
  async malformed_json(s) { isError(await post(s.base, '{"model": "tiny-qwen2", "messages": ['), 400, 'invalid_json'); },
  async wrong_type(s) {
    isError(await post(s.base, { ...user('Hi'), temperature: 'hot' }), 400, 'invalid_value', 'temperature');
    isError(await post(s.base, { ...user('Hi'), max_tokens: 1.5 }), 400, 'invalid_value', 'max_tokens');
    isError(await post(s.base, { ...user('Hi'), stream: 'yes' }), 400, 'invalid_value', 'stream');
    isError(await post(s.base, { ...user('Hi'), stop: [1] }), 400, 'invalid_value', 'stop');
    isError(await post(s.base, { model: 'tiny-qwen2', messages: 'Hi' }), 400, 'invalid_type', 'messages');
    isError(await post(s.base, { model: 'tiny-qwen2', messages: [{ role: 'robot', content: 'Hi' }] }), 400, 'invalid_value', 'messages');
    isError(await post(s.base, '[1, 2]'), 400, 'invalid_json');
  },
  async unknown_model(s) { isError(await post(s.base, { ...user('Hi'), model: 'gpt-4o' }), 404, 'model_not_found', 'model'); },
  async bad_image(s) {
    isError(await post(s.base, withImage(`data:image/png;base64,${Buffer.from('not an image at all').toString('base64')}`)), 400, 'invalid_image');
    isError(await post(s.base, withImage('data:image/png;base64,@@@@')), 400, 'invalid_image');
  },
  async image_too_large(s) {
    const r = await post(s.base, withImage(hugePng(20000, 20000)));
    isError(r, 400, 'invalid_image');
    check(/pixel|limit/i.test(r.json?.error?.message ?? ''), `the message names the pixel limit: ${r.json?.error?.message}`);
  },
  async context_overflow(s) { isError(await post(s.base, user('word '.repeat(400))), 400, 'context_length_exceeded', 'messages'); },
  async body_too_large(s) {
    const r = await post(s.base, { ...withImage(dataUrl(chelsea)), padding: 'x'.repeat(2 << 20) });
    isError(r, 413, 'request_too_large');
  },
  async bad_api_key(s) {
    isError(await post(s.base, user('Hi'), { Authorization: 'Bearer wrong' }), 401, 'invalid_api_key');
    isError(await post(s.base, user('Hi')), 401, 'invalid_api_key');
    const ok = await post(s.base, user('Hi'), { Authorization: 'Bearer sekrit' });
    check(ok.status === 200, 'the right key is accepted');
    const health = await fetch(`${s.base}/health`);
    check(health.status === 200, '/health needs no key');
  },
  async local_files_root(s) {
    const images = `${SHARED}/golden/images`;
    check((await post(s.base, withImage(chelsea))).status === 200, 'a path under --allow-local-files is accepted');
    check((await post(s.base, withImage(`file://${images}/../images/chelsea.png`))).status === 200, 'a file:// URL that resolves under it too');
    const r = await post(s.base, withImage(`${images}/../tiny-qwen2/config.json`));
    isError(r, 400, 'invalid_value', 'messages');
    check(/outside the allowed directory/.test(r.json?.error?.message ?? ''), `".." cannot leave the directory: ${r.json?.error?.message}`);
  },
  async tiles(s) { // the server runs with --max-tiles 1
    const ask = (image_url, extra = {}) =>
      post(s.base, { ...user([{ type: 'image_url', image_url }, { type: 'text', text: 'Hi' }]), max_tokens: 1, ...extra });
    const imageTokens = async (image_url, extra) => (await ask(image_url, extra)).json?.usage?.prompt_tokens_details?.image_tokens;
    const url = dataUrl(chelsea);
    const full = runCli([{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'Hi' }] }], ['-n', '1']).image_tokens;
    check(full > 256, `minivl run tiles chelsea into ${full / 256} tiles at the config maximum`);
    check(await imageTokens({ url }) === 256, '--max-tiles 1 is the default budget');
    check(await imageTokens({ url, detail: 'auto' }) === 256, 'detail "auto" keeps the default');
    check(await imageTokens({ url, detail: 'low' }) === 256, 'detail "low" is one tile');
    check(await imageTokens({ url, detail: 'high' }) === full, 'detail "high" is the config maximum (max_dynamic_patch)');
    check(await imageTokens({ url, detail: 'high' }, { max_tiles: 2 }) === 3 * 256, 'an explicit max_tiles wins over detail');
    isError(await ask({ url, detail: 'huge' }), 400, 'invalid_value', 'detail');
    isError(await ask({ url }, { max_tiles: 0 }), 400, 'invalid_value', 'max_tiles');
  },
  async local_files(s) {
    isError(await post(s.base, withImage(chelsea)), 400, 'invalid_value');
    isError(await post(s.base, withImage(`file://${chelsea}`)), 400, 'invalid_value');
    isError(await post(s.base, withImage('http://example.com/cat.png')), 400, 'invalid_value');
  },
  async routes(s) {
    isError({ ...(await (async () => { const r = await fetch(`${s.base}/nope`); const t = await r.text(); return { status: r.status, text: t, json: JSON.parse(t) }; })()) }, 404, 'not_found');
    const r = await fetch(`${s.base}/v1/chat/completions`); const t = await r.text();
    isError({ status: r.status, text: t, json: JSON.parse(t) }, 405);
    const h = await (await fetch(`${s.base}/health`)).json();
    check(h.status === 'ok', '/health says ok');
    await post(s.base, user('Hi'));
    const m = await fetch(`${s.base}/metrics`); const mt = await m.text();
    check(m.headers.get('content-type').startsWith('text/plain'), 'metrics are text/plain');
    for (const name of ['minivl_requests_total 1', 'minivl_queue_depth 0', 'minivl_completion_tokens_total 4', 'minivl_decode_seconds_total',
                        'minivl_prefill_seconds_total', 'minivl_vision_seconds_total', '# TYPE minivl_requests_total counter'])
      check(mt.includes(name), `metrics has "${name}"`);
  },
  async queue_full(s) { // --parallel 1 --queue 1: one running, one queued, then 429 — built up step by step
    // so that no request can finish before the next arrives (a race on a loaded machine otherwise)
    const metric = async (name) => {
      const m = (await (await fetch(`${s.base}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)`, 'm'));
      return m ? Number(m[1]) : -1;
    };
    const waitFor = async (name, value) => {
      for (let i = 0; i < 200 && (await metric(name)) !== value; i++) await sleep(25);
      return (await metric(name)) === value;
    };
    const ac = new AbortController();
    const running = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', signal: ac.signal,
      body: JSON.stringify({ ...user('Tell me a long story.'), max_tokens: 100000, stream: true }) });
    await running.body.getReader().read();
    check(await waitFor('minivl_active_sessions', 1), 'the first request is generating');
    const queued = post(s.base, { ...user('Hi'), max_tokens: 8 });
    check(await waitFor('minivl_queue_depth', 1), 'the second request waits in the queue');
    const rs = await Promise.all(Array.from({ length: 3 }, () => post(s.base, user('Hi'))));
    check(rs.every((r) => r.status === 429), `beyond the queue bound: 429 (got ${rs.map((r) => r.status)})`);
    isError(rs[0], 429, 'rate_limit_exceeded');
    check(rs[0].headers.get('retry-after') === '1', 'Retry-After: 1');
    ac.abort(); // the running request is cancelled; the queued one then completes
    const q = await queued;
    check(q.status === 200 && q.json.choices[0].message.content.length > 0, 'the queued request completes');
  },
  async disconnect(s) {
    const ac = new AbortController();
    const res = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', signal: ac.signal,
      body: JSON.stringify({ ...user('Hi'), max_tokens: 5000, stream: true }) });
    const reader = res.body.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    let cancelled = false;
    for (let i = 0; i < 40 && !cancelled; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const mt = await (await fetch(`${s.base}/metrics`)).text();
      cancelled = mt.includes('minivl_requests_cancelled_total 1') && mt.includes('minivl_active_sessions 0');
    }
    check(cancelled, 'a client that disconnects mid-stream cancels its generation (within 2 s)');
    const blocking = new AbortController();
    const p = fetch(`${s.base}/v1/chat/completions`, { method: 'POST', signal: blocking.signal,
      body: JSON.stringify({ ...user('Hi'), max_tokens: 5000 }) }).catch(() => null);
    await new Promise((r) => setTimeout(r, 300));
    blocking.abort();
    await p;
    let cancelled2 = false;
    for (let i = 0; i < 40 && !cancelled2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      cancelled2 = (await (await fetch(`${s.base}/metrics`)).text()).includes('minivl_requests_cancelled_total 2');
    }
    check(cancelled2, 'a non-streaming client that disconnects cancels its generation too');
  },
  async load_options(s) { // the server runs with --precision bf16 --quantize q8 --quantize-vision q8 --max-tiles 1
    const content = [{ type: 'image_url', image_url: { url: dataUrl(chelsea) } }, { type: 'text', text: 'Hi' }];
    check(s.log.includes('precision bf16, quantize q8, quantize-vision q8, kv cache f16'), `the startup line names the load options: ${s.log}`);
    const r = await post(s.base, { ...user(content), max_tokens: 8 });
    const cli = runCli([{ role: 'user', content }], ['-n', '8', '--max-tiles', '1', ...fastOptions]);
    check(r.status === 200 && r.json?.usage?.completion_tokens > 0, `200 with tokens: ${r.text.slice(0, 200)}`);
    check(r.json?.choices?.[0]?.message?.content === cli.text,
          `the same text as minivl run with the same load options: ${JSON.stringify(r.json?.choices?.[0]?.message?.content)} vs ${JSON.stringify(cli.text)}`);
  },
  async shutdown_inflight(s) { await shutdownInflight(s, 'SIGTERM'); },
  async shutdown_sigint(s) { await shutdownInflight(s, 'SIGINT'); },
  async shutdown_grace(s) { // a stream far longer than the grace period (--shutdown-grace 1) is cut with a shutting_down error event
    const res = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST',
      body: JSON.stringify({ ...user('Hi'), max_tokens: 20000, stream: true }) });
    const reader = res.body.getReader();
    await reader.read();
    const t0 = Date.now();
    const stopped = s.stop('SIGTERM');
    s.stopped = true;
    let text = '';
    for (;;) { const { done: d, value } = await reader.read(); if (d) break; text += Buffer.from(value).toString(); }
    const events = text.split('\n\n').filter((e) => e);
    const last = events.length > 1 ? JSON.parse(events[events.length - 2].slice(6)) : null;
    check(events[events.length - 1] === 'data: [DONE]' && last?.error?.code === 'shutting_down' && last.error.type === 'server_error',
          `the stream ends with a shutting_down error event and [DONE]: ${JSON.stringify(last).slice(0, 200)}`);
    check(Date.now() - t0 < 5000, `cut after the grace period (${Date.now() - t0} ms)`);
    await stopped;
  },
};

const fastOptions = ['--precision', 'bf16', '--quantize', 'q8', '--quantize-vision', 'q8'];
const serverArgs = { load_options: [...fastOptions, '--max-tiles', '1'], context_overflow: ['--ctx', '64'], body_too_large: ['--max-body-mb', '1'], bad_api_key: ['--api-key', 'sekrit'],
                     local_files: ['--allow-local-files', `${SHARED}/golden/images/nonexistent-dir`],
                     local_files_root: ['--allow-local-files', `${SHARED}/golden/images`], tiles: ['--max-tiles', '1'], shutdown_grace: ['--shutdown-grace', '1'], queue_full: ['--parallel', '1', '--queue', '1'] };
const s = await startServer(serverArgs[which] ?? []);
try {
  await cases[which](s);
  if (!s.stopped) await stillServes(s.base, which === 'bad_api_key' ? { Authorization: 'Bearer sekrit' } : {});
} catch (e) {
  check(false, `unexpected error: ${e.stack || e}`);
} finally {
  if (!s.stopped) await s.stop();
}
done(`serve_bad_${which}`);
