// serve_loading.mjs — the server answers while its model is still loading: /health is 503
// {"status":"loading"}, a chat request 503 model_loading with Retry-After, /metrics minivl_ready 0;
// once loaded, /health is 200 {"status":"ok"}. The load is held up by serving config.json through a
// named pipe that the test writes only after those checks. Usage: node serve_loading.mjs BIN MODEL SHARED
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, MODEL, check, done } from './serve_util.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// The checkpoint with config.json replaced by a FIFO: the model load blocks until the test writes it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minivl-loading-'));
const dirModel = path.join(dir, 'tiny-qwen2');
fs.mkdirSync(dirModel);
for (const f of fs.readdirSync(MODEL))
  if (f !== 'config.json') fs.symlinkSync(fs.realpathSync(path.join(MODEL, f)), path.join(dirModel, f));
const fifo = path.join(dirModel, 'config.json');
try { execFileSync('mkfifo', [fifo]); } catch { console.log('SKIP: mkfifo is not available'); process.exit(77); }

const port = await freePort();
const proc = spawn(BIN, ['serve', '-m', dirModel, '--port', String(port), '-t', '2'], { stdio: ['ignore', 'inherit', 'pipe'] });
let log = '';
proc.stderr.on('data', (d) => { log += d; process.stderr.write(d); });
const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
const base = `http://127.0.0.1:${port}`;
let fed = false;
const feed = () => { fed = true; fs.writeFileSync(fifo, fs.readFileSync(path.join(MODEL, 'config.json'))); }; // the load goes on
try {
  let health = null;
  for (let i = 0; i < 200 && !health; i++) {
    try { health = await fetch(`${base}/health`); } catch { await sleep(50); }
  }
  check(health && health.status === 503, `/health is 503 while loading (got ${health && health.status})`);
  check(health && (await health.json()).status === 'loading', '/health says "loading"');
  const chat = await fetch(`${base}/v1/chat/completions`, { method: 'POST',
    body: JSON.stringify({ model: 'tiny-qwen2', messages: [{ role: 'user', content: 'Hi' }] }) });
  const err = (await chat.json()).error;
  check(chat.status === 503 && err && err.code === 'model_loading' && 'param' in err && err.type === 'server_error',
        `a chat request is 503 model_loading in OpenAI's error shape (got ${chat.status})`);
  check(chat.headers.get('retry-after') === '1', 'with Retry-After: 1');
  check((await (await fetch(`${base}/metrics`)).text()).includes('minivl_ready 0'), 'metrics say minivl_ready 0');

  feed();
  for (let i = 0; i < 600 && !/serving/.test(log); i++) await sleep(50);
  const ready = await fetch(`${base}/health`);
  check(ready.status === 200 && (await ready.json()).status === 'ok', '/health is 200 {"status":"ok"} once loaded');
} catch (e) {
  check(false, `unexpected error: ${e.stack || e}`);
} finally {
  if (!fed) feed(); // SIGTERM is taken only once the load is over
  proc.kill('SIGTERM');
  const { code, sig } = await exited;
  check(code === 0, `server exits 0 on SIGTERM (code ${code}, signal ${sig})`);
  fs.rmSync(dir, { recursive: true, force: true });
}
done('serve_loading');
