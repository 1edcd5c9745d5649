// serve_openai.mjs — the official `openai` npm client against `minivl serve`: a plain request, a
// streamed one and an image one; each greedy answer must equal `minivl run --messages` for the same
// conversation. Usage: node serve_openai.mjs BIN MODEL SHARED NODE_DIR plain|stream|image
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import { SHARED, ARGS, check, startServer, runCli, dataUrl, done } from './serve_util.mjs';

const [nodeDir, which] = ARGS;
if (!fs.existsSync(`${nodeDir}/node_modules/openai`)) {
  let npm = true;
  try { execSync('npm --version', { stdio: 'ignore' }); } catch { npm = false; }
  if (!npm) { console.log('SKIP: npm is not installed, so the openai client cannot be installed'); process.exit(77); }
  console.log(`FAIL: ${nodeDir}/node_modules/openai is missing (the serve_npm_install test installs it)`);
  process.exit(1);
}
const OpenAI = createRequire(`${nodeDir}/package.json`)('openai');
const KEY = 'sk-minivl-test';
const images = `${SHARED}/golden/images`;

async function plain(client) {
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, who are you?' }];
  const r = await client.chat.completions.create({ model: 'tiny-qwen2', messages, max_tokens: 24, temperature: 0 });
  const want = runCli(messages, ['-n', '24']);
  check(r.object === 'chat.completion' && r.choices.length === 1, 'a chat.completion with one choice');
  check(r.choices[0].message.role === 'assistant', 'role assistant');
  check(r.choices[0].message.content === want.text, `greedy text equals minivl run's (${JSON.stringify(want.text).slice(0, 60)}...)`);
  check(r.choices[0].finish_reason === want.finish_reason, `finish_reason ${r.choices[0].finish_reason}`);
  check(r.usage.prompt_tokens === want.input_ids.length, `prompt_tokens ${r.usage.prompt_tokens}`);
  check(r.usage.completion_tokens === want.output_ids.length, `completion_tokens ${r.usage.completion_tokens}`);
  check(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'total_tokens');
  const stop = Array.from(want.text).slice(5, 8).join('');
  const stopped = await client.chat.completions.create({ model: 'tiny-qwen2', messages, max_tokens: 24, stop: [stop, 'never-seen'] });
  check(stopped.choices[0].finish_reason === 'stop' && stopped.choices[0].message.content === want.text.slice(0, want.text.indexOf(stop)),
        'a stop string cuts the answer before it, finish_reason stop');
}

async function stream(client) {
  const messages = [{ role: 'user', content: 'Count to five.' }];
  const s = await client.chat.completions.create({ model: 'tiny-qwen2', messages, max_tokens: 30, stream: true,
                                                   stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of s) {
    chunks++;
    if (c.usage) usage = c.usage;
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? '';
      finish = c.choices[0].finish_reason ?? finish;
    }
  }
  const want = runCli(messages, ['-n', '30']);
  check(chunks > 5, `streamed in ${chunks} chunks`);
  check(text === want.text, 'streamed text equals minivl run\'s');
  check(finish === want.finish_reason, `finish_reason ${finish}`);
  check(usage && usage.completion_tokens === want.output_ids.length && usage.prompt_tokens === want.input_ids.length,
        'include_usage sends a final usage chunk with the right counts');
}

async function image(client) {
  const parts = [
    { type: 'image_url', image_url: { url: dataUrl(`${images}/chelsea.png`) } },
    { type: 'image_url', image_url: { url: `file://${images}/astronaut.png` } },
    { type: 'text', text: 'What differs between these pictures?' },
  ];
  const messages = [{ role: 'user', content: parts }];
  const r = await client.chat.completions.create({ model: 'tiny-qwen2', messages, max_tokens: 16, temperature: 0 });
  const want = runCli(messages, ['-n', '16']);
  check(r.choices[0].message.content === want.text, 'two-image greedy text equals minivl run\'s');
  check(r.usage.prompt_tokens === want.input_ids.length, `prompt_tokens ${r.usage.prompt_tokens} (Image-1/Image-2 rule as run)`);
  check(r.usage.prompt_tokens_details.image_tokens === want.image_tokens, `image_tokens ${want.image_tokens}`);
  const low = await client.chat.completions.create({ model: 'tiny-qwen2', max_tokens: 1, messages: [{ role: 'user', content: [
    { type: 'image_url', image_url: { url: dataUrl(`${images}/chelsea.png`), detail: 'low' } }, { type: 'text', text: 'Hi' }] }] });
  check(low.usage.prompt_tokens_details.image_tokens === 256, 'detail "low" gives one tile (256 image tokens)');
  const two = await client.chat.completions.create({ model: 'tiny-qwen2', max_tokens: 1, max_tiles: 2, messages: [{ role: 'user', content: [
    { type: 'image_url', image_url: { url: dataUrl(`${images}/chelsea.png`) } }, { type: 'text', text: 'Hi' }] }] });
  check(two.usage.prompt_tokens_details.image_tokens === 3 * 256, 'max_tiles 2 gives 2 tiles + thumbnail');
}

const srv = await startServer(['--api-key', KEY, '--allow-local-files', images, '--parallel', '2']);
try {
  const client = new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: KEY, maxRetries: 0 });
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === 'tiny-qwen2', 'models.list names the model');
  await { plain, stream, image }[which](client);
} catch (e) {
  check(false, `unexpected error: ${e.stack || e}`);
} finally {
  await srv.stop();
}
done(`serve_openai_${which}`);
