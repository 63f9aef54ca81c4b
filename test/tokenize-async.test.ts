// Long texts tokenize on a worker thread: the ids tokenize() gives on the calling thread,
// the event loop free meanwhile, and a worker that cannot run costs time, never a text.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatTemplate, DEFAULT_MODEL_DIR, LckvError, loadModel, type Model } from '../lib';
import { OFF_THREAD_CHARS, TextTokenizer } from '../lib/tokenizer';
import { TokenizerThread, type EncodeRequest, type TokenizerSource } from '../lib/tokenizer-thread';
import { removeDir } from './fixtures';
import { watchEventLoopGaps } from './helpers/event-loop';
import { expectLckvError, readJson } from './helpers/robustness';
import { madeUpWords, textCheckpoint } from './helpers/tokenizer';

const ROOT = path.join(__dirname, '..');

describe('tokenizeAsync: long texts on a worker thread', function () {
  let model: Model;

  before(async () => {
    model = await loadModel();
  });

  after(async () => {
    await model?.dispose();
  });

  it("gives tokenize()'s ids for short and long texts, with and without special tokens, several at once", async () => {
    const heldout = fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'heldout.txt'), 'utf8');
    const texts = [
      '',
      'Hello',
      madeUpWords(OFF_THREAD_CHARS - 1, 1),
      madeUpWords(OFF_THREAD_CHARS, 2),
      heldout,
      heldout.repeat(4) + ' naïve café 東京 🙂',
      madeUpWords(50_000, 3),
    ];
    for (const addSpecialTokens of [true, false]) {
      const got = await Promise.all(texts.map((t) => model.tokenizeAsync(t, { addSpecialTokens })));
      texts.forEach((t, i) => assert.deepEqual(got[i], model.tokenize(t, { addSpecialTokens }), `text ${i}, special tokens ${addSpecialTokens}`));
    }
  });

  it('keeps the event loop free while a long text is encoded (tokenize() blocks it for as long)', async () => {
    const text = madeUpWords(120_000, 4);
    const gaps = watchEventLoopGaps();
    const offThread = await model.tokenizeAsync(text);
    const longestMs = gaps.stop();
    const t0 = performance.now();
    const here = model.tokenize(text);
    const blockedMs = performance.now() - t0;
    assert.deepEqual(offThread, here);
    assert.ok(blockedMs > 150, `the text is long enough to matter: tokenize() took ${blockedMs.toFixed(0)} ms`);
    assert.ok(longestMs < blockedMs / 3, `longest gap between 1 ms timer ticks ${longestMs.toFixed(0)} ms while tokenize() blocks ${blockedMs.toFixed(0)} ms`);
  });

  it('perplexity, generate and chat take long text prompts the same way', async () => {
    const dir = textCheckpoint('lckv-tokasync-', 2048);
    const wide = await loadModel(dir);
    try {
      const text = madeUpWords(OFF_THREAD_CHARS + 100, 5);
      const ids = wide.tokenize(text);
      const context = 256;
      assert.equal(await wide.perplexity(text, { context }), await wide.perplexity(ids, { context }));
      const greedy = { maxTokens: 6, temperature: 0 };
      assert.deepEqual(await wide.generate(text, greedy), await wide.generate(ids, greedy));
      const messages = [{ role: 'user', content: text }];
      const chatIds = wide.tokenize(wide.chatTemplate.render(messages), { addSpecialTokens: false });
      assert.deepEqual(await wide.chat(messages, greedy), await wide.generate(chatIds, greedy));
    } finally {
      await wide.dispose();
      removeDir(dir);
    }
  });

  it('dispose() while a long prompt is being tokenized: a stream started before still finishes', async () => {
    const dir = textCheckpoint('lckv-tokasync-', 2048);
    try {
      const m = await loadModel(dir);
      const text = madeUpWords(OFF_THREAD_CHARS + 100, 6);
      const stream = m.stream(text, { maxTokens: 4, temperature: 0 });
      const first = stream.next();
      await m.dispose();
      let pieces = (await first).done ? 0 : 1;
      for (let step = await stream.next(); !step.done; step = await stream.next()) pieces++;
      assert.equal(pieces, 4);
      await expectLckvError(() => m.tokenizeAsync(text), 'DISPOSED');
    } finally {
      removeDir(dir);
    }
  });

  it('an abort rejects at once with ABORTED, even behind a long text; generate resolves as aborted', async () => {
    const code = (e: unknown) => (e as { code?: string }).code;
    await expectLckvError(() => model.tokenizeAsync(madeUpWords(OFF_THREAD_CHARS, 7), { signal: AbortSignal.abort() }), 'ABORTED');
    const leaving = new AbortController();
    const t0 = performance.now();
    const ahead = model.tokenizeAsync(madeUpWords(150_000, 8)).then(() => performance.now() - t0);
    const behind = model.tokenizeAsync(madeUpWords(150_000, 9), { signal: leaving.signal }).then(
      () => ({ code: 'resolved', ms: 0 }),
      (e: unknown) => ({ code: code(e), ms: performance.now() - t0 }),
    );
    setTimeout(() => leaving.abort(), 20);
    const [aheadMs, withdrawn] = await Promise.all([ahead, behind]);
    assert.equal(withdrawn.code, 'ABORTED');
    assert.ok(withdrawn.ms < aheadMs, `rejected after ${withdrawn.ms.toFixed(0)} ms; the text ahead took ${aheadMs.toFixed(0)} ms`);

    // The text in the worker is aborted: the one queued behind it still gets its own ids.
    const inFlight = new AbortController();
    const next = madeUpWords(50_000, 13);
    const dropped = model.tokenizeAsync(madeUpWords(150_000, 14), { signal: inFlight.signal });
    const queued = model.tokenizeAsync(next);
    setTimeout(() => inFlight.abort(), 20);
    await expectLckvError(() => dropped, 'ABORTED');
    assert.deepEqual(await queued, model.tokenize(next));

    const aborted = { text: '', tokens: [], finishReason: 'abort', usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 } };
    const stopping = new AbortController();
    const generated = model.generate(madeUpWords(150_000, 10), { maxTokens: 4, signal: stopping.signal });
    const chatted = model.chat([{ role: 'user', content: madeUpWords(150_000, 15) }], { maxTokens: 4, signal: stopping.signal });
    setTimeout(() => stopping.abort(), 20);
    assert.deepEqual(await generated, aborted);
    assert.deepEqual(await chatted, aborted);
  });

  it("tokenizeChat's bad arguments are INVALID_ARGUMENT; a request the worker cannot be handed fails alone", async () => {
    const messages = [{ role: 'user', content: 'Hello' }];
    for (const [options, name] of [[{ template: {} }, /template/], [{ signal: 'soon' }, /signal/], [{ addGenerationPrompt: 'yes' }, /addGenerationPrompt/]] as const)
      assert.match((await expectLckvError(() => model.tokenizeChat(messages, options as object), 'INVALID_ARGUMENT')).message, name);
    await expectLckvError(() => new ChatTemplate('{{ bos_token }}', { bos_token: 1 } as unknown as Record<string, string>), 'INVALID_ARGUMENT');

    const source = { json: readJson(path.join(DEFAULT_MODEL_DIR, 'tokenizer.json')), config: readJson(path.join(DEFAULT_MODEL_DIR, 'tokenizer_config.json')) };
    const here = new TextTokenizer(source);
    // No fallback: every id here comes from the worker.
    const thread = new TokenizerThread(source, () => {
      throw new Error('encoded on the calling thread');
    });
    try {
      const text = madeUpWords(OFF_THREAD_CHARS, 12);
      const uncopyable = { text, addSpecialTokens: true, extra: () => 0 } as unknown as EncodeRequest;
      const [before, refused, after] = await Promise.allSettled([
        thread.encode({ text, addSpecialTokens: true }),
        thread.encode(uncopyable),
        thread.encode({ text, addSpecialTokens: false }),
      ]);
      assert.deepEqual(before, { status: 'fulfilled', value: here.encode(text, true) });
      assert.equal(refused.status === 'rejected' && (refused.reason as LckvError).code, 'INVALID_ARGUMENT');
      assert.deepEqual(after, { status: 'fulfilled', value: here.encode(text, false) });
    } finally {
      thread.close();
    }
  });

  it('long conversations render and tokenize on the worker: the ids of render() + tokenize(), typed template errors, the event loop free', async () => {
    const messages = Array.from({ length: 20_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}` }));
    const template = model.chatTemplate;
    const t0 = performance.now();
    const text = template.render(messages);
    const renderMs = performance.now() - t0;
    const gaps = watchEventLoopGaps();
    const ids = await model.tokenizeChat(messages);
    const longestMs = gaps.stop();
    assert.deepEqual(ids, model.tokenize(text, { addSpecialTokens: false }));
    assert.ok(renderMs > 150, `enough messages to matter: render() took ${renderMs.toFixed(0)} ms`);
    assert.ok(longestMs < renderMs / 3, `longest gap between 1 ms timer ticks ${longestMs.toFixed(0)} ms while render() blocks ${renderMs.toFixed(0)} ms`);
    const few = messages.slice(0, 3);
    assert.deepEqual(await model.tokenizeChat(few), model.tokenize(template.render(few), { addSpecialTokens: false }));
    const refusing = new ChatTemplate("{{ raise_exception('not today') }}");
    for (const list of [messages, few])
      assert.match((await expectLckvError(() => model.tokenizeChat(list, { template: refusing }), 'INVALID_ARGUMENT')).message, /not today/);
  });

  it('a worker that cannot start or dies: its texts and later ones are encoded here, with one warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => w.code === 'LCKV_TOKENIZER_THREAD' && warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const here = (r: EncodeRequest) => ['text' in r ? r.text.length : -1, r.addSpecialTokens ? 1 : 0];
      const text = (t: string, addSpecialTokens: boolean): EncodeRequest => ({ text: t, addSpecialTokens });
      // The worker starts, then cannot build this tokenizer and dies with the texts in it.
      const dies = new TokenizerThread({ json: { model: { type: 'none' } }, config: {} }, here);
      assert.deepEqual(await Promise.all([dies.encode(text('abc', true)), dies.encode(text('de', false))]), [
        [3, 1],
        [2, 0],
      ]);
      assert.deepEqual(await dies.encode(text('later', true)), [5, 1]);
      // Data a worker cannot be handed: no worker at all.
      const never = new TokenizerThread({ json: { f: () => 0 }, config: {} } as unknown as TokenizerSource, here);
      assert.deepEqual(await never.encode(text('xy', false)), [2, 0]);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0], /tokenizer's worker thread failed/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an idle worker does not hold the process open; a text in it does, until its ids come back', async () => {
    const script = `require(${JSON.stringify(path.join(ROOT, 'lib'))}).loadModel().then(async (model) => {
  model.tokenizeAsync('word '.repeat(4000)).then((ids) => console.log(ids.length));
});`;
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise((resolve) => child.on('close', resolve));
    clearTimeout(killer);
    assert.equal(code, 0, stderr);
    assert.equal(Number(stdout.trim()), model.tokenize('word '.repeat(4000)).length);
    assert.doesNotMatch(stderr, /LCKV_TOKENIZER_THREAD/);
  });
});
