// The engine: continuous batching over the paged, layer-condensed KV pool. Many concurrent
// requests under a KV budget that fits only a few at a time all finish, each equal to its
// solo run (greedy and seeded sampling); preemption recomputes without changing outputs;
// aborts free blocks at once; too-large requests are rejected; the event loop stays free.
import * as assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LckvError, loadModel, type Model } from '../lib';
import type { GenerateOptions } from '../lib/options';
import { BENCH_SHAPE, writeRandomCheckpoint } from '../lib/bench/random-checkpoint';
import { makeCheckpoint, mulberry32, removeDir, tmpDir } from './fixtures';
import { watchEventLoopGaps } from './helpers/event-loop';

const SPEC = {
  modelType: 'lckv-llama' as const,
  layerTypes: '0_3_3_3_4',
  numLayers: 5,
  hiddenSize: 32,
  intermediateSize: 48,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 64,
  forwardPasses: 2,
  backwardPasses: 1,
  maxPositionEmbeddings: 256,
  seed: 7,
  extraConfig: { eos_token_id: null },
};

interface Request {
  prompt: number[];
  options: GenerateOptions;
}

/** Runs every request at once; returns their results and the most sequences that ran together. */
async function runTogether(model: Model, reqs: Request[]) {
  let most = 0;
  const timer = setInterval(() => (most = Math.max(most, model.stats().running)), 1);
  try {
    const got = await Promise.all(reqs.map((r) => model.generate(r.prompt, r.options)));
    return { got, most };
  } finally {
    clearInterval(timer);
  }
}

/** n requests of varied prompt lengths (5..20), lengths (8..24) and prefill modes. */
function requests(n: number, sampling: boolean, seed: number): Request[] {
  const r = mulberry32(seed);
  const modes = ['auto', 'iterative', 'sequential'] as const;
  return Array.from({ length: n }, (_, i) => ({
    prompt: Array.from({ length: 5 + Math.floor(r() * 16) }, () => 1 + Math.floor(r() * 63)),
    options: {
      maxTokens: 8 + Math.floor(r() * 17),
      prefill: modes[i % 3],
      ...(sampling ? { temperature: 0.9, topK: 20, topP: 0.95, seed: 1000 + i } : { temperature: 0 }),
    },
  }));
}

describe('engine: continuous batching over the paged KV pool', function () {
  let dir: string;
  let roomy: Model;  // default budget, one request at a time: the solo runs
  const soloCache = new Map<Request, number[]>();
  const solo = async (req: Request) => {
    if (!soloCache.has(req)) soloCache.set(req, (await roomy.generate(req.prompt, req.options)).tokens);
    return soloCache.get(req)!;
  };
  const tight = (tokens: number, maxBatch = 32) => loadModel(dir, { threads: 2, kvCache: { tokens }, maxBatch });

  before(async () => {
    dir = tmpDir('lckv-engine-');
    makeCheckpoint(dir, SPEC);
    roomy = await loadModel(dir, { threads: 2 });
  });
  after(async () => {
    await roomy?.dispose();
    removeDir(dir);
  });

  it('stats() has the documented fields; the default pool holds 4 contexts', () => {
    const s = roomy.stats();
    for (const key of ['kvBlocksUsed', 'kvBlocksTotal', 'running', 'waiting', 'preemptions', 'tokensGenerated', 'tokensPerSecond'])
      assert.equal(typeof (s as unknown as Record<string, unknown>)[key], 'number', key);
    assert.equal(s.kvBlocksTotal, (4 * 256) / 16);
    assert.equal(s.kvBlocksUsed, 0);
  });

  for (const sampling of [false, true])
    it(`64 concurrent ${sampling ? 'seeded sampling' : 'greedy'} requests under a budget of a few all equal their solo runs`, async () => {
      const reqs = requests(64, sampling, sampling ? 2 : 1);
      const want: number[][] = [];
      for (const r of reqs) want.push(await solo(r));
      const model = await tight(8 * 16);  // 8 blocks: a request needs up to 3
      try {
        const { got, most } = await runTogether(model, reqs);
        got.forEach((g, i) => assert.deepEqual(g.tokens, want[i], `request ${i}`));
        const s = model.stats();
        assert.equal(s.kvBlocksUsed, 0);
        assert.equal(s.running, 0);
        assert.equal(s.waiting, 0);
        assert.equal(s.tokensGenerated, want.reduce((a, w) => a + w.length, 0));
        assert.ok(most > 1 && most <= 8, `at most ${most} ran at once`);
      } finally {
        await model.dispose();
      }
    });

  it('a request gives the same tokens alone or among 63 others in one batch', async () => {
    const reqs = requests(64, true, 3);
    const want: number[][] = [];
    for (const r of reqs) want.push(await solo(r));
    const model = await loadModel(dir, { threads: 2, kvCache: { tokens: 64 * 64 }, maxBatch: 64 });
    try {
      const got = await Promise.all(reqs.map((r) => model.generate(r.prompt, r.options)));
      got.forEach((g, i) => assert.deepEqual(g.tokens, want[i], `request ${i}`));
      assert.equal(model.stats().preemptions, 0);
    } finally {
      await model.dispose();
    }
  });

  it('running out of blocks mid-decode preempts the newest; recomputed outputs equal solo runs', async () => {
    // Four requests are admitted at once (prompt + 1 fits one block) but together outgrow the
    // four blocks of the pool.
    const r = mulberry32(9);
    const reqs: Request[] = ['auto', 'iterative', 'sequential', 'auto'].map((prefill, i) => ({
      prompt: Array.from({ length: 10 }, () => 1 + Math.floor(r() * 63)),
      options: { maxTokens: 40, prefill: prefill as GenerateOptions['prefill'], ...(i % 2 ? { temperature: 0.9, seed: i } : { temperature: 0 }) },
    }));
    const want: number[][] = [];
    for (const q of reqs) want.push(await solo(q));
    const model = await tight(4 * 16);
    try {
      const got = await Promise.all(reqs.map((q) => model.generate(q.prompt, q.options)));
      got.forEach((g, i) => assert.deepEqual(g.tokens, want[i], `request ${i}`));
      const s = model.stats();
      assert.ok(s.preemptions > 0, 'no preemption happened');
      assert.equal(s.kvBlocksUsed, 0);
    } finally {
      await model.dispose();
    }
  });

  it('a standard model recomputes preempted tokens in one parallel pass, with the same outputs', async () => {
    const std = tmpDir('lckv-engine-std-');
    makeCheckpoint(std, { ...SPEC, modelType: 'llama', layerTypes: undefined });
    const r = mulberry32(11);
    const prompts = Array.from({ length: 4 }, () => Array.from({ length: 10 }, () => 1 + Math.floor(r() * 63)));
    const alone = await loadModel(std, { threads: 2 });
    const tightStd = await loadModel(std, { threads: 2, kvCache: { tokens: 4 * 16 } });
    try {
      const want: number[][] = [];
      for (const p of prompts) want.push((await alone.generate(p, { maxTokens: 40, temperature: 0 })).tokens);
      const got = await Promise.all(prompts.map((p) => tightStd.generate(p, { maxTokens: 40, temperature: 0 })));
      got.forEach((g, i) => assert.deepEqual(g.tokens, want[i], `request ${i}`));
      assert.ok(tightStd.stats().preemptions > 0, 'no preemption happened');
    } finally {
      await alone.dispose();
      await tightStd.dispose();
      removeDir(std);
    }
  });

  it('a long prompt is prefilled in chunks between decode steps, with the tokens of a token-by-token prefill', async () => {
    const std = tmpDir('lckv-engine-chunks-');
    makeCheckpoint(std, { ...SPEC, modelType: 'llama', layerTypes: undefined, maxPositionEmbeddings: 1024 });
    const model = await loadModel(std, { threads: 2 });
    try {
      const r = mulberry32(12);
      const long = Array.from({ length: 700 }, () => 1 + Math.floor(r() * 63));  // 3 chunks of <= 256
      const exact = (await model.generate(long, { maxTokens: 6, temperature: 0, prefill: 'sequential' })).tokens;
      // A short stream decodes; the long prompt arrives after its first token.
      const events: string[] = [];
      const stream = (async () => {
        for await (const _ of model.stream([1, 2, 3], { maxTokens: 60, temperature: 0 })) events.push('short');
      })();
      while (events.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const longRun = (async () => {
        const tokens: number[] = [];
        for await (const piece of model.stream(long, { maxTokens: 6, temperature: 0 })) {
          if (tokens.length === 0) events.push('long');
          tokens.push(piece.token);
        }
        return tokens;
      })();
      assert.deepEqual(await longRun, exact, 'chunked prefill changed the tokens');
      await stream;
      const before = events.indexOf('long');
      assert.ok(before >= 3, `the short stream produced ${before - 1} tokens while the long prompt prefilled; want >= 2 (one per chunk boundary)`);
    } finally {
      await model.dispose();
      removeDir(std);
    }
  });

  it('a sequence preempted while its long prompt prefills starts over later, with its solo tokens', async () => {
    const std = tmpDir('lckv-engine-preempt-prefill-');
    makeCheckpoint(std, { ...SPEC, modelType: 'llama', layerTypes: undefined, maxPositionEmbeddings: 1024 });
    const r = mulberry32(13);
    const short = Array.from({ length: 14 }, () => 1 + Math.floor(r() * 63));  // 15 positions: 1 block
    const long = Array.from({ length: 1000 }, () => 1 + Math.floor(r() * 63));  // 1001 positions: 63 blocks, 4 chunks
    const alone = await loadModel(std, { threads: 2 });
    // 64 blocks: once the long prompt holds its 63, the short sequence's third token needs the last
    // one, and the long prompt (newest, still prefilling) gives its blocks up.
    const tightStd = await loadModel(std, { threads: 2, kvCache: { tokens: 64 * 16 } });
    try {
      const want: number[][] = [];
      for (const p of [short, long]) want.push((await alone.generate(p, { maxTokens: 8, temperature: 0 })).tokens);
      const shortTokens: number[] = [];
      let longRun: Promise<{ tokens: number[] }> | undefined;
      for await (const piece of tightStd.stream(short, { maxTokens: 8, temperature: 0 })) {
        shortTokens.push(piece.token);
        longRun ??= tightStd.generate(long, { maxTokens: 8, temperature: 0 });
      }
      assert.deepEqual(shortTokens, want[0], 'short request');
      assert.deepEqual((await longRun!).tokens, want[1], 'long request');
      assert.ok(tightStd.stats().preemptions > 0, 'no preemption happened');
      assert.equal(tightStd.stats().kvBlocksUsed, 0);
    } finally {
      await alone.dispose();
      await tightStd.dispose();
      removeDir(std);
    }
  });

  it('aborting half of 64 streams mid-stream frees their blocks; the rest equal their solo runs', async () => {
    const reqs = requests(64, false, 4).map((q) => ({ ...q, options: { ...q.options, maxTokens: 20 } }));
    const model = await tight(12 * 16);
    try {
      const controllers = reqs.map(() => new AbortController());
      const runs = reqs.map(async (q, i) => {
        const tokens: number[] = [];
        const stream = model.stream(q.prompt, { ...q.options, signal: controllers[i].signal });
        for (;;) {
          const step = await stream.next();
          if (step.done) return { tokens, result: step.value };
          tokens.push(step.value.token);
          if (i % 2 === 1 && tokens.length === 3) {
            controllers[i].abort();
            const used = model.stats().kvBlocksUsed;
            assert.ok(used <= 12);
          }
        }
      });
      const got = await Promise.all(runs);
      for (let i = 0; i < reqs.length; i++) {
        if (i % 2 === 1) assert.equal(got[i].result.finishReason, 'abort', `request ${i}`);
        else {
          assert.deepEqual(got[i].tokens, await solo(reqs[i]), `request ${i}`);
          assert.equal(got[i].result.finishReason, 'length');
        }
      }
      const s = model.stats();
      assert.equal(s.kvBlocksUsed, 0);
      assert.equal(s.running + s.waiting, 0);
    } finally {
      await model.dispose();
    }
  });

  it('an abort frees the sequence blocks at once (a native step in flight lets go when it ends)', async () => {
    const model = await tight(16 * 16);
    try {
      const controller = new AbortController();
      const stream = model.stream([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], {
        maxTokens: 100,
        temperature: 0,
        signal: controller.signal,
      });
      await stream.next();
      assert.ok(model.stats().kvBlocksUsed >= 2);
      controller.abort();
      const t0 = performance.now();
      while (model.stats().kvBlocksUsed > 0 && performance.now() - t0 < 1000) await new Promise((r) => setImmediate(r));
      assert.equal(model.stats().kvBlocksUsed, 0);
      assert.ok(performance.now() - t0 < 200, `blocks freed after ${(performance.now() - t0).toFixed(0)} ms`);
      let rest = await stream.next();
      while (!rest.done) rest = await stream.next();  // pieces sampled before the abort
      assert.equal(rest.value.finishReason, 'abort');
    } finally {
      await model.dispose();
    }
  });

  it('a request larger than the whole pool rejects with KV_BUDGET_EXCEEDED; others still run', async () => {
    const model = await tight(2 * 16);
    try {
      const big = Array.from({ length: 32 }, (_, i) => 1 + (i % 60));
      const isBudget = (err: unknown) => err instanceof LckvError && err.code === 'KV_BUDGET_EXCEEDED';
      await assert.rejects(model.generate(big, { maxTokens: 4 }), isBudget);
      await assert.rejects(model.logits([...big, 5]), isBudget);
      const fits = await model.generate(big.slice(0, 31), { maxTokens: 4, temperature: 0 });
      // The pool holds 32 positions: the 31-token prompt and one fed-back token.
      assert.equal(fits.tokens.length, 2);
      assert.equal(fits.finishReason, 'length');
      assert.equal((await model.logits(big)).length, 32 * 64);
      assert.equal(model.stats().kvBlocksUsed, 0);
    } finally {
      await model.dispose();
    }
  });

  it('perplexity scores in windows the pool holds unless told a context (which must fit)', async () => {
    const model = await tight(2 * 16);
    try {
      const ids = Array.from({ length: 80 }, (_, i) => 1 + ((i * 7) % 60));
      const byDefault = await model.perplexity(ids);
      assert.equal(byDefault, await model.perplexity(ids, { context: 32 }));
      await assert.rejects(model.perplexity(ids, { context: 48 }), (err: unknown) => err instanceof LckvError && err.code === 'KV_BUDGET_EXCEEDED');
    } finally {
      await model.dispose();
    }
  });

  it("kvCache.admission 'reserve' admits only what can finish without preemption; outputs equal solo runs", async () => {
    const reqs = requests(64, true, 4);  // 5..20-token prompts, 8..24 tokens: 1 to 3 blocks at their bounds
    const want: number[][] = [];
    for (const r of reqs) want.push(await solo(r));
    const model = await loadModel(dir, { threads: 2, kvCache: { tokens: 8 * 16, admission: 'reserve' } });
    try {
      const { got, most } = await runTogether(model, reqs);
      got.forEach((g, i) => assert.deepEqual(g.tokens, want[i], `request ${i}`));
      const s = model.stats();
      assert.equal(s.preemptions, 0);
      assert.equal(s.kvBlocksUsed, 0);
      assert.ok(most > 1 && most <= 8, `at most ${most} ran at once`);
    } finally {
      await model.dispose();
    }
    // Where optimistic admission preempts (the test above), 'reserve' runs them one by one.
    const r = mulberry32(9);
    const four = Array.from({ length: 4 }, () => Array.from({ length: 10 }, () => 1 + Math.floor(r() * 63)));
    const one = await loadModel(dir, { threads: 2, kvCache: { tokens: 4 * 16, admission: 'reserve' } });
    try {
      await Promise.all(four.map((p) => one.generate(p, { maxTokens: 40, temperature: 0 })));
      assert.equal(one.stats().preemptions, 0);
    } finally {
      await one.dispose();
    }
  });

  it('kvCache.bytes and kvCache.tokens are validated', async () => {
    const bad = (opts: object) =>
      assert.rejects(loadModel(dir, opts), (e: unknown) => e instanceof LckvError && e.code === 'INVALID_ARGUMENT');
    await bad({ kvCache: { bytes: 1024, tokens: 64 } });
    await bad({ kvCache: { bytes: 1 } });
    await bad({ kvCache: { tokens: 0 } });
    await bad({ maxBatch: 0 });
    await bad({ kvCache: { admission: 'greedy' } });
    // 3 cached layers (0, 3, 4) x K and V x 16 positions x 2 heads x 8 dims x 2 bytes = 3072 bytes a block.
    const m = await loadModel(dir, { kvCache: { bytes: 3 * 3072 + 100 } });
    assert.equal(m.stats().kvBlocksTotal, 3);
    await m.dispose();
  });

  it('the event loop stays responsive while 64 requests generate', async () => {
    const model = await tight(16 * 16);
    const h = monitorEventLoopDelay({ resolution: 5 });
    try {
      const reqs = requests(64, true, 5);
      h.enable();
      const t0 = performance.now();
      await Promise.all(reqs.map((r) => model.generate(r.prompt, { ...r.options, maxTokens: 24 })));
      const elapsed = performance.now() - t0;
      h.disable();
      const p99 = h.percentile(99) / 1e6;
      assert.ok(p99 < 50, `event loop delay p99 ${p99.toFixed(1)} ms over ${elapsed.toFixed(0)} ms`);
      const s = model.stats();
      assert.ok(s.tokensPerSecond > 0);
    } finally {
      h.disable();
      await model.dispose();
    }
  });

  describe('a 128k-token vocabulary: JavaScript-thread work yields to the event loop', () => {
    let big: string;
    let model: Model;
    before(async () => {
      big = tmpDir('lckv-engine-vocab-');
      makeCheckpoint(big, { ...SPEC, vocabSize: 131072 });
      model = await loadModel(big, { threads: 2 });
      await model.generate([1, 2, 3], { maxTokens: 1 });  // packing and first-use costs stay out of the measurements
    });
    after(async () => {
      await model?.dispose();
      if (big) removeDir(big);
    });

    it('sampling 32 rows, top-k off', async () => {
      // A row's top-p 0.999 over a nearly flat distribution ranks almost the whole vocabulary
      // (tens of ms); 32 rows in one go held the event loop for a second.
      const options = { maxTokens: 3, temperature: 1, topK: 0, topP: 0.999, minP: 0 };
      const gaps = watchEventLoopGaps();
      const outs = await Promise.all(Array.from({ length: 32 }, (_, i) => model.generate([1, 2, 3 + i], { ...options, seed: i })));
      const maxGap = gaps.stop();
      assert.ok(outs.every((o) => o.tokens.length === 3));
      assert.ok(maxGap < 150, `the event loop stalled ${maxGap.toFixed(0)} ms`);
    });

    it('perplexity of a 256-token window (33M exponentials)', async () => {
      const ids = Array.from({ length: 256 }, (_, i) => 1 + ((i * 37) % 131000));
      const gaps = watchEventLoopGaps();
      const ppl = await model.perplexity(ids);
      const maxGap = gaps.stop();
      assert.ok(Number.isFinite(ppl) && ppl > 1);
      assert.ok(maxGap < 150, `the event loop stalled ${maxGap.toFixed(0)} ms`);
    });
  });

  // Last in this file: the ~250 MB checkpoint it writes leaves garbage whose collection
  // must not land in the event-loop measurement above.
  it('loading a ~127M-parameter model does not block the event loop while its weights are packed', async function () {
    this.timeout(60_000);
    const dir = tmpDir();
    try {
      writeRandomCheckpoint(dir, BENCH_SHAPE, 'F16');
      const gaps = watchEventLoopGaps();
      await new Promise((r) => setTimeout(r, 20));
      const model = await loadModel(dir);
      // Packing ~205 MB of weights takes a few hundred ms here: on the JavaScript thread it
      // would stall the timer that long; off it, the gaps stay at what reading the config costs.
      await new Promise((r) => setTimeout(r, 20));
      const maxGap = gaps.stop();
      const out = await model.generate([1, 2, 3], { maxTokens: 1, temperature: 0 });  // waits for the packing
      await model.dispose();
      assert.equal(out.tokens.length, 1);
      assert.ok(maxGap < 100, `the event loop stalled ${maxGap.toFixed(0)} ms`);
    } finally {
      removeDir(dir);
    }
  });
});
