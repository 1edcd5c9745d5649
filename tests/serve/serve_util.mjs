// serve_util.mjs — start `minivl serve` on a free loopback port for one test, talk to it, stop it
// with SIGTERM and insist on exit status 0 (graceful shutdown is checked by every test).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const [BIN, MODEL, SHARED] = process.argv.slice(2, 5);
export const ARGS = process.argv.slice(5);

let failures = 0;
export function check(cond, what) {
  if (cond) console.log(`ok: ${what}`);
  else { console.log(`FAIL: ${what}`); failures++; }
}

export async function startServer(extra = []) {
  const proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '-t', '2', ...extra], { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (d) => {
      log += d;
      process.stderr.write(d);
      const m = log.match(/on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${log}`)); });
  });
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  const base = `http://127.0.0.1:${port}`;
  return {
    port, base, proc,
    exited,
    get log() { return log; },
    async stop(signal = 'SIGTERM') {
      proc.kill(signal);
      const { code, sig } = await exited;
      check(code === 0, `server exits 0 on ${signal} (code ${code}, signal ${sig})`);
    },
  };
}

export async function post(base, body, headers = {}) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// `minivl run --json --messages` for the same conversation: the reference answer.
export function runCli(messages, extra = []) {
  const file = `${process.cwd()}/serve-msgs-${process.pid}.json`;
  fs.writeFileSync(file, JSON.stringify(messages));
  try {
    const out = execFileSync(BIN, ['run', '-m', MODEL, '-t', '2', '--json', '--messages', file, ...extra], { maxBuffer: 1 << 28 });
    return JSON.parse(out.toString());
  } finally { fs.unlinkSync(file); }
}

export function dataUrl(path) {
  return `data:image/png;base64,${fs.readFileSync(path).toString('base64')}`;
}

export function done(name) {
  console.log(failures ? `${name}: ${failures} check(s) failed` : `${name}: all checks passed`);
  process.exit(failures ? 1 : 0);
}
