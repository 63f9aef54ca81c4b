// A host process (an Electron app) loads, uses and drops models for as long as it runs:
// whatever a model holds (threads, mapped files, packed weights, the KV pool) goes back,
// whether the model is disposed or only forgotten.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { loadModel } from '../lib';
import { makeCheckpoint, removeDir, tmpDir } from './fixtures';

const linux = process.platform === 'linux';

function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

/** Mappings of `file` in this process. */
function mappingsOf(file: string): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(file)).length;
}

function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** Lets finalizers queued by a collection run, then collects again. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((r) => setImmediate(r));
  }
}

describe('resources: nothing outlives its model', function () {
  let dir: string;
  // ~9 MB of F32 weights, and a 600-token prompt whose activations reach megabytes: keeping
  // either per cycle would be obvious in RSS.
  const spec = { numLayers: 4, hiddenSize: 256, intermediateSize: 512, numHeads: 4, numKvHeads: 2, vocabSize: 2048, maxPositionEmbeddings: 1024 };
  const prompt = Array.from({ length: 600 }, (_, i) => 1 + ((i * 7) % 2000));

  before(function () {
    if (!linux) this.skip();  // /proc
    dir = tmpDir('lckv-resources-');
    makeCheckpoint(dir, spec);
  });
  after(() => {
    if (dir) removeDir(dir);
  });

  async function cycle(dispose: boolean): Promise<void> {
    const model = await loadModel(dir, { threads: 2, kvCache: { tokens: 4096 } });
    const out = await model.generate(prompt, { maxTokens: 8, temperature: 0 });
    assert.equal(out.tokens.length, 8);
    if (dispose) await model.dispose();
  }

  it('load, generate and dispose 40 times: threads, mappings and RSS come back', async () => {
    const file = fs.realpathSync(`${dir}/model.safetensors`);
    for (let i = 0; i < 5; i++) await cycle(true);  // warm-up: code, allocator arenas, tokenizer caches
    await settle();
    const threads = threadCount();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 40; i++) await cycle(true);
    await settle();
    assert.equal(threadCount(), threads, 'threads left behind');
    assert.equal(mappingsOf(file), 0, 'the checkpoint is still mapped');
    const growthMb = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(growthMb < 20, `RSS grew ${growthMb.toFixed(1)} MB over 40 cycles`);
  });

  it('dispose() lets go of threads and the mapped checkpoint at once, with no garbage collection', async () => {
    const file = fs.realpathSync(`${dir}/model.safetensors`);
    await settle();
    const threads = threadCount();
    const model = await loadModel(dir, { threads: 8, kvCache: { tokens: 4096 } });
    await model.generate(prompt, { maxTokens: 4, temperature: 0 });
    for await (const piece of model.stream(prompt.slice(0, 10), { maxTokens: 4 })) void piece;
    assert.ok(threadCount() >= threads + 7, 'the model should run 7 threads of its own');
    await model.dispose();
    // The finished requests' sequence objects are still uncollected here; they must not
    // keep the engine (its threads, its mapping) alive.
    assert.equal(threadCount(), threads, 'threads wait for the garbage collector');
    assert.equal(mappingsOf(file), 0, 'the checkpoint stays mapped until the garbage collector runs');
    assert.equal(model.stats().kvBlocksUsed, 0);
  });

  it('a model that is dropped without dispose() is freed by the garbage collector', async () => {
    const file = fs.realpathSync(`${dir}/model.safetensors`);
    await settle();
    const threads = threadCount();
    for (let i = 0; i < 10; i++) await cycle(false);
    await settle();
    assert.equal(mappingsOf(file), 0, 'a forgotten model still maps its checkpoint');
    assert.equal(threadCount(), threads, 'a forgotten model left its threads running');
  });
});
