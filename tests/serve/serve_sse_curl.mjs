// serve_sse_curl.mjs — the raw server-sent-event framing of a streamed completion, as curl sees it:
// text/event-stream, events "data: <json>\n\n" only, a role chunk first, a finish chunk, a usage
// chunk, then "data: [DONE]\n\n". Usage: node serve_sse_curl.mjs BIN MODEL SHARED
import { execFileSync } from 'node:child_process';
import { check, startServer, done } from './serve_util.mjs';

try { execFileSync('curl', ['--version'], { stdio: 'ignore' }); } catch { console.log('SKIP: curl is not installed'); process.exit(77); }
const s = await startServer();
try {
  const body = JSON.stringify({ model: 'tiny-qwen2', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, stream: true,
                                stream_options: { include_usage: true } });
  const raw = execFileSync('curl', ['-sS', '-N', '-i', '-H', 'Content-Type: application/json', '-d', body,
                                    `${s.base}/v1/chat/completions`]).toString();
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split), events = raw.slice(split + 4);
  check(/^HTTP\/1\.1 200/.test(head), 'status 200');
  check(/\r\ncontent-type: text\/event-stream/i.test(head), 'Content-Type: text/event-stream');
  check(events.endsWith('data: [DONE]\n\n'), 'ends with "data: [DONE]\\n\\n"');
  const parts = events.split('\n\n');
  check(parts.pop() === '', 'every event ends with a blank line');
  check(parts.every((p) => p.startsWith('data: ') && !p.includes('\n')), 'every event is a single data: line');
  const json = parts.slice(0, -1).map((p) => JSON.parse(p.slice(6)));
  check(json.every((j) => j.object === 'chat.completion.chunk' && j.id === json[0].id), 'chunks share one id');
  check(json[0].choices[0].delta.role === 'assistant', 'the first chunk carries the role');
  const fin = json[json.length - 2], usage = json[json.length - 1];
  check(fin.choices[0].finish_reason === 'length' && Object.keys(fin.choices[0].delta).length === 0, 'a finish chunk with an empty delta');
  check(usage.choices.length === 0 && usage.usage.completion_tokens === 6, 'a usage chunk with empty choices');
  check(json.slice(1, -2).every((j) => typeof j.choices[0].delta.content === 'string' && j.choices[0].finish_reason === null),
        'content chunks in between');
} catch (e) {
  check(false, `unexpected error: ${e.stack || e}`);
} finally {
  await s.stop();
}
done('serve_sse_curl');
