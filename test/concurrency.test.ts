// Concurrency and cancellation of the public API: calls on one model never block each other
// forever, and an abort stops native work that is already running.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadModel, type Model } from '../lib';
import { makeCheckpoint, removeDir, tmpDir } from './fixtures';

describe('concurrency and cancellation', function () {
  let dir: string;
  let model: Model;
  const prompt = Array.from({ length: 12 }, (_, i) => (i * 5 + 1) % 64);

  before(async () => {
    dir = tmpDir('lckv-concurrency-');
    makeCheckpoint(dir, {
      modelType: 'lckv-llama',
      layerTypes: '0_3_3_3',
      numLayers: 4,
      hiddenSize: 32,
      intermediateSize: 48,
      numHeads: 4,
      numKvHeads: 2,
      vocabSize: 64,
      maxPositionEmbeddings: 4096,
    });
    model = await loadModel(dir);
  });
  after(async () => {
    await model.dispose();
    removeDir(dir);
  });

  it('an abandoned stream does not block later calls on the model', async () => {
    const solo = await model.generate(prompt, { temperature: 0, maxTokens: 6 });
    const abandoned = model.stream(prompt, { temperature: 0, maxTokens: 50 });
    await abandoned.next();
    const after = await model.generate(prompt, { temperature: 0, maxTokens: 6 });
    assert.deepEqual(after.tokens, solo.tokens);
    await abandoned.return(undefined as never);
  });

  it('two streams consumed in turn each equal their solo runs', async () => {
    const solo = await model.generate(prompt, { temperature: 0, maxTokens: 8 });
    const a = model.stream(prompt, { temperature: 0, maxTokens: 8 });
    const b = model.stream(prompt, { temperature: 0, maxTokens: 8 });
    const ta: number[] = [];
    const tb: number[] = [];
    for (let i = 0; i < 8; i++) {
      const x = await a.next();
      const y = await b.next();
      if (!x.done) ta.push(x.value.token);
      if (!y.done) tb.push(y.value.token);
    }
    assert.deepEqual(ta, solo.tokens);
    assert.deepEqual(tb, solo.tokens);
  });

  it('aborting during a long sequential prefill stops it early', async () => {
    const long = Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) % 64);
    const t0 = performance.now();
    await model.generate(long.slice(0, 300), { maxTokens: 1, prefill: 'sequential' });
    const per300 = performance.now() - t0;
    const controller = new AbortController();
    const started = performance.now();
    const pending = model.generate(long, { maxTokens: 5, prefill: 'sequential', signal: controller.signal });
    setTimeout(() => controller.abort(), per300 / 2);
    const result = await pending;
    const elapsed = performance.now() - started;
    assert.equal(result.finishReason, 'abort');
    assert.equal(result.tokens.length, 0);
    // The full prefill takes about 10x per300 (and more: attention grows with the prompt).
    assert.ok(elapsed < per300 * 4, `abort took ${elapsed.toFixed(0)} ms; 300 tokens take ${per300.toFixed(0)} ms`);
    const after = await model.generate(prompt, { temperature: 0, maxTokens: 3 });
    assert.equal(after.tokens.length, 3);
  });

  // Electron and Node apps load addons in worker threads too: each thread gets its own
  // instance of the addon, and a thread torn down mid-generation must take nothing else down.
  it('runs in worker threads alike, and a worker terminated mid-generation harms nothing', async () => {
    const lib = path.join(__dirname, '..', 'lib');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const model = await require(${JSON.stringify(lib)}).loadModel(workerData.dir);
        if (workerData.endless) {
          parentPort.postMessage('started');
          // Streams again whenever one ends (at eos or the context): busy until terminated.
          for (;;) for await (const piece of model.stream(workerData.prompt, { maxTokens: 1000000 })) void piece;
        }
        const r = await model.generate(workerData.prompt, { temperature: 0, maxTokens: 6 });
        await model.dispose();
        parentPort.postMessage(r.tokens);
      })();`;
    const start = (endless: boolean) =>
      new Worker(code, { eval: true, execArgv: ['--require', require.resolve('tsx/cjs')], workerData: { dir, prompt, endless } });
    const firstMessage = (w: Worker) =>
      new Promise<unknown>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    const want = (await model.generate(prompt, { temperature: 0, maxTokens: 6 })).tokens;
    const got = await Promise.all([start(false), start(false)].map(firstMessage));
    assert.deepEqual(got, [want, want]);
    const busy = start(true);
    assert.equal(await firstMessage(busy), 'started');
    let finished = false;
    busy.on('message', () => (finished = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(finished, false, 'the worker was still generating when terminated');
    await busy.terminate();
    assert.deepEqual((await model.generate(prompt, { temperature: 0, maxTokens: 6 })).tokens, want);
  });
});
