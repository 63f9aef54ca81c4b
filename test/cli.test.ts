// The real `lckv` command line, run as a child process (lib/cli.ts through tsx, the same
// code tsc compiles to dist/cli.js), on a tiny random checkpoint with the bundled tokenizer.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_MODEL_DIR, loadChatTemplate, loadModel, type ChatMessage, type Model } from '../lib';
import { removeDir } from './fixtures';
import { textCheckpoint } from './helpers/tokenizer';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'lib', 'cli.ts');
const TOKENIZER_DIR = DEFAULT_MODEL_DIR;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `lckv ...args` as a child process (lib/cli.ts through tsx). */
function startLckv(args: string[], stdio: StdioOptions = ['pipe', 'pipe', 'pipe']): ChildProcess {
  return spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), CLI, ...args], {
    cwd: ROOT,
    stdio,
    env: { ...process.env, LCKV_API_KEY: '' },
  });
}

/** Runs `lckv ...args` to completion. */
function lckv(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = startLckv(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin!.end(input ?? '');
  });
}

describe('cli (lckv)', function () {
  let dir: string;
  let model: Model;

  before(async () => {
    dir = textCheckpoint('lckv-cli-', 256);
    model = await loadModel(dir);
  });

  after(async () => {
    await model?.dispose();
    if (dir) removeDir(dir);
  });

  it('the compiled bin (dist/cli.js, what npx lckv runs) is an executable script', async function () {
    if (process.platform === 'win32') this.skip();  // npm writes a .cmd shim there
    const bin = path.join(ROOT, 'dist', 'cli.js');
    assert.ok(fs.existsSync(bin), `${bin} is missing: npm run build:ts compiles it`);
    const help = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(bin, ['--help'], { cwd: ROOT });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: lckv/);
  });

  it('generate: --seed/--temperature 0 output is deterministic and equals model.generate', async () => {
    const args = ['generate', '--model', dir, '--seed', '5', '--temperature', '0', '--max-tokens', '12', 'The jury said'];
    const [a, b] = await Promise.all([lckv(args), lckv(args)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const direct = await model.generate('The jury said', { seed: 5, temperature: 0, maxTokens: 12 });
    assert.equal(a.stdout, 'The jury said' + direct.text + '\n');
  });

  it('generate: reads the prompt from stdin (no prompt, or "-"); --json and --no-echo', async () => {
    const [fromStdin, dash, json, bare] = await Promise.all([
      lckv(['generate', '--model', dir, '--temperature', '0', '--max-tokens', '8'], 'It was a cold morning'),
      lckv(['generate', '--model', dir, '--temperature', '0', '--max-tokens', '8', '-'], 'It was a cold morning'),
      lckv(['generate', '--model', dir, '--temperature', '0', '--max-tokens', '8', '--json', 'It was a cold morning']),
      lckv(['generate', '--model', dir, '--temperature', '0', '--max-tokens', '8', '--no-echo', 'It was a cold morning']),
    ]);
    const direct = await model.generate('It was a cold morning', { temperature: 0, maxTokens: 8 });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, 'It was a cold morning' + direct.text + '\n');
    assert.equal(dash.stdout, fromStdin.stdout);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { text: direct.text, tokens: direct.tokens, finishReason: direct.finishReason, usage: direct.usage });
    assert.equal(bare.stdout, direct.text + '\n');
  });

  it('generate: a reader that closes the pipe early stops it quietly (exit 0, no stderr)', async () => {
    for (let round = 0; round < 3; round++) {
      const child = startLckv(['generate', '--model', dir, '--max-tokens', '240', 'Once'], ['ignore', 'pipe', 'pipe']);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
      child.stdout!.once('data', () => child.stdout!.destroy());  // like `| head -c 1`
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
    }
  });

  /** Runs lckv with stdin from `input` (a path) and stdout closed at once or sent to `output`. */
  function lckvIo(args: string[], input: string, output: 'closed' | string): Promise<Omit<Run, 'stdout'>> {
    return new Promise((resolve, reject) => {
      const files = [fs.openSync(input, 'r'), ...(output === 'closed' ? [] : [fs.openSync(output, 'w')])];
      const child = startLckv(args, [files[0], files[1] ?? 'pipe', 'pipe']);
      if (output === 'closed') child.stdout?.destroy();
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => {
        for (const fd of files) fs.closeSync(fd);
        resolve({ code, stderr });
      });
    });
  }

  it('output nobody reads, endless input and a full disk end in one line, never a stack trace', async function () {
    if (process.platform !== 'linux') this.skip();  // /dev/zero, /dev/full
    const [info, ppl, endlessPrompt, endlessChat, full] = await Promise.all([
      lckvIo(['info', '--model', dir, '--json'], '/dev/null', 'closed'),
      lckvIo(['perplexity', '--model', dir, path.join(TOKENIZER_DIR, 'heldout.txt')], '/dev/null', 'closed'),
      lckvIo(['generate', '--model', dir, '--max-tokens', '2'], '/dev/zero', '/dev/null'),
      lckvIo(['chat', '--model', dir, '--max-tokens', '2'], '/dev/zero', '/dev/null'),
      lckvIo(['generate', '--model', dir, '--max-tokens', '2', 'Hi'], '/dev/null', '/dev/full'),
    ]);
    for (const r of [info, ppl]) assert.deepEqual([r.code, r.stderr], [0, '']);
    for (const r of [endlessPrompt, endlessChat, full]) {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.match(endlessPrompt.stderr, /^lckv generate: stdin holds more than/);
    assert.match(endlessChat.stderr, /^lckv chat: an input line is longer than/);
    assert.match(full.stderr, /cannot write the output/);
  });

  it('generate: a prompt past the context prints nothing but its error', async () => {
    const run = await lckv(['generate', '--model', dir, '--max-tokens', '2'], 'word '.repeat(400));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /\[CONTEXT_OVERFLOW\]/);
  });

  it('info: shape, layer plan and the cached layers', async () => {
    const [text, json] = await Promise.all([lckv(['info', '--model', dir]), lckv(['info', '--model', dir, '--json'])]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /4 layers, hidden 64/);
    assert.match(text.stdout, /layer {2}2 <- KV of layer {2}3 {3}\[attends up, diagonal masked\]/);
    assert.match(text.stdout, /2 of 4 layers cached \(0, 3\)/);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).cachedLayers, [0, 3]);
  });

  it('perplexity: scores a file and reports tokens and time', async () => {
    const file = path.join(dir, 'text.txt');
    const text = 'The Fulton County Grand Jury said Friday an investigation of recent primary elections produced no evidence.\n'.repeat(4);
    fs.writeFileSync(file, text);
    const [plain, json] = await Promise.all([
      lckv(['perplexity', '--model', dir, '--context', '64', file]),
      lckv(['perplexity', '--model', dir, '--context', '64', '--json', file]),
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    const ids = model.tokenize(text);
    const expected = await model.perplexity(ids, { context: 64 });
    const m = /^perplexity {2}([\d.]+)\ntokens {6}(\d+) \((\d+) windows of up to 64\)\ntime {8}[\d.]+ s/.exec(plain.stdout);
    assert.ok(m, plain.stdout);
    assert.equal(m[1], expected.toFixed(4));
    assert.equal(Number(m[2]), ids.length);
    assert.equal(Number(m[3]), Math.ceil((ids.length - 1) / 64));
    const j = JSON.parse(json.stdout);
    assert.equal(j.perplexity, expected);
    assert.equal(j.tokens, ids.length);
  });

  it('chat: one reply per stdin line through the chat template, with history', async () => {
    const r = await lckv(['chat', '--model', dir, '--temperature', '0', '--max-tokens', '6'], 'Hello there\nHow are you?\n');
    assert.equal(r.code, 0, r.stderr);
    // The same conversation through the API: template, stop strings, trimmed replies.
    const template = await loadChatTemplate(dir);
    const history: ChatMessage[] = [];
    let expected = '';
    for (const line of ['Hello there', 'How are you?']) {
      history.push({ role: 'user', content: line });
      const ids = await template.tokenize(model, history);
      const reply = (await model.generate(ids, { temperature: 0, maxTokens: 6, stop: template.stop.length ? template.stop : undefined })).text;
      expected += reply.trimStart() + '\n';
      history.push({ role: 'assistant', content: reply.trim() });
    }
    assert.equal(r.stdout, expected);
  });

  /** Starts `lckv serve ...extra` on a free port; resolves with its base URL (as the startup line shows it) and the child. */
  async function serve(extra: string[]) {
    const child = startLckv(['serve', '--model', dir, '--port', '0', ...extra], ['ignore', 'pipe', 'pipe']);
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /(http:\/\/\S+:\d+)\/v1/.exec(stderr);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, url, exited, stderr: () => stderr };
  }

  it('serve: listens, answers /health, and stops on SIGINT with exit code 0', async () => {
    const { child, url, exited, stderr } = await serve([]);
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:/);
      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 200);
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      assert.equal(models.data[0].id, path.basename(dir));
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, stderr());
  });

  it('serve: --host takes an IPv6 address in brackets, as its startup line writes it', async function () {
    const probe = net.createServer();
    const v6 = await new Promise<boolean>((resolve) => probe.once('error', () => resolve(false)).listen(0, '::1', () => probe.close(() => resolve(true))));
    if (!v6) this.skip();  // no IPv6 loopback here
    const { child, url, exited, stderr } = await serve(['--host', '[::1]']);
    try {
      assert.match(url, /^http:\/\/\[::1\]:/);
      assert.equal((await fetch(`${url}/health`)).status, 200);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, stderr());
  });

  it('bench: measures a checkpoint and prints the table', async () => {
    const run = await lckv(['bench', '--model', dir, '--prompt-tokens', '8', '--decode-tokens', '4', '--repeats', '1']);
    assert.equal(run.code, 0, run.stderr);
    const [header, , row] = run.stdout.trim().split('\n');
    assert.match(header, /\| model \| weights \| prefill tok\/s \| decode tok\/s \|/);
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[1], path.basename(dir));
    assert.ok(Number(cells[3]) > 0 && Number(cells[4]) > 0, row);
  });

  it('bench --chart draws LCKV vs standard throughput against batch size as an SVG', async () => {
    const svg = path.join(dir, 'chart.svg');
    const run = await lckv(['bench', '--small', '--chart', svg]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\| lckv [\d_]+, auto prefill \/ standard \|/);
    assert.match(run.stdout, /\| lckv [\d_]+, sequential prefill \/ standard \|/);
    const text = fs.readFileSync(svg, 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
    assert.match(text.trim(), /<\/svg>$/);
    const lines = [...text.matchAll(/<polyline [^>]*points="([^"]+)"\/>/g)].map((m) => m[1].split(' '));
    assert.equal(lines.length, 3, 'one line per measured row: standard, LCKV with each prefill');
    for (const points of lines) {
      assert.equal(points.length, 3, 'batch 1, 8 and 32');
      for (const p of points) assert.match(p, /^\d+(\.\d+)?,\d+(\.\d+)?$/);
    }
    assert.equal((text.match(/</g) ?? []).length, (text.match(/>/g) ?? []).length);
  });

  it('--help on every command exits 0; usage errors exit 2; runtime failures exit 1', async () => {
    const helps = await Promise.all([
      lckv(['--help']),
      lckv(['help', 'chat']),
      ...['generate', 'chat', 'info', 'perplexity', 'serve', 'bench'].map((c) => lckv([c, '--help'])),
    ]);
    for (const h of helps) {
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /^Usage: lckv/);
    }
    const usage = await Promise.all([
      lckv([]),
      lckv(['frobnicate']),
      lckv(['generate', '--model', dir, '--temperature', 'hot', 'x']),
      lckv(['generate', '--model', dir, '--top-p', '2', 'x']),
      lckv(['generate', '--model', dir, '--max-tokens', '1.5', 'x']),
      lckv(['generate', '--model', dir, '--prefill', 'sideways', 'x']),
      lckv(['generate', '--model', dir, '--kv-admission', 'eager', 'x']),
      lckv(['generate', '--model', dir, '--bogus', 'x']),
      lckv(['generate', '--model', dir]),
      lckv(['perplexity', '--model', dir]),
      lckv(['perplexity', '--model', dir, '--context', '1', 'f']),
      lckv(['serve', '--model', dir, '--port', '70000']),
      lckv(['serve', '--model', dir, '--max-body', 'lots']),
      lckv(['info', '--model', dir, 'extra']),
      lckv(['bench', '--dtypes', 'F8']),
      lckv(['generate', '--model', dir, '--max-tokens', '-1', 'x']),
      lckv(['generate', '--model', dir, '--max-tokens', '0x3', 'x']),
    ]);
    for (const u of usage) assert.equal(u.code, 2, `expected exit 2, got ${u.code}: ${u.stderr}`);
    assert.match(usage[1].stderr, /unknown command 'frobnicate'/);
    assert.match(usage[2].stderr, /--temperature needs a number/);
    // One line of what is wrong, then the pointer to --help (Node's parser adds paragraphs of advice).
    const negative = usage[usage.length - 2].stderr.trim().split('\n');
    assert.equal(negative.length, 2, usage[usage.length - 2].stderr);
    assert.match(negative[0], /^lckv generate: .*--max-tokens/);

    const missing = path.join(dir, 'no-such-model');
    const failures = await Promise.all([
      lckv(['generate', '--model', missing, 'x']),
      lckv(['info', '--model', missing]),
      lckv(['perplexity', '--model', dir, path.join(dir, 'no-such-file.txt')]),
    ]);
    for (const f of failures) assert.equal(f.code, 1, `expected exit 1, got ${f.code}: ${f.stderr}`);
    assert.match(failures[0].stderr, /no-such-model/);
  });
});
