// The native sampler (native/engine/sampler.cpp) against a plain re-statement of its rule
// (full sort, then the filters) and of the request PRNG, on logits with many ties, so
// neither the top-k selection nor the partial ranking without top-k can change a single draw.
import * as assert from 'node:assert/strict';
import { native } from '../lib/native';
import type { SamplingSettings } from '../lib/sampling';
import { mulberry32 } from './fixtures';

/** The request PRNG as documented: SplitMix32 state, Mulberry-style output, uniform in [0, 1). */
class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

const FLOAT32_MAX = 2 ** 128 - 2 ** 104;

/** The native sampler with its PRNG state in `rng` (advanced in place). */
function sampleToken(logits: Float32Array, s: SamplingSettings, seen: Set<number>, rng: Uint32Array): number {
  const settings = Float64Array.of(s.temperature, s.topK, s.topP, s.minP, s.repetitionPenalty);
  return native().sampleToken(logits, settings, Int32Array.from(seen), rng);
}

function plainSample(logits: Float32Array, s: SamplingSettings, seen: Set<number>, rng: Rng): number {
  const penalized = (v: number) => (v > 0 ? Math.min(v / s.repetitionPenalty, FLOAT32_MAX) : v * s.repetitionPenalty);
  const scores = Array.from(logits, (v, id) => (seen.has(id) && s.repetitionPenalty !== 1 ? penalized(v) : v));
  let ids = scores.map((_, id) => id).sort((a, b) => scores[b] - scores[a] || a - b);
  if (s.temperature === 0) return ids[0];
  if (s.topK > 0) ids = ids.slice(0, s.topK);
  const weight = (id: number) => Math.exp((scores[id] - scores[ids[0]]) / s.temperature);
  const p = ids.map(weight);
  const total = [...ids].sort((a, b) => a - b).reduce((sum, id) => sum + weight(id), 0);  // in id order
  let keep = ids.length;
  for (let i = 0, c = 0; s.topP < 1 && i < ids.length; i++) if ((c += p[i] / total) >= s.topP) { keep = i + 1; break; }
  while (s.minP > 0 && keep > 1 && p[keep - 1] < s.minP * p[0]) keep--;
  let r = rng.next() * p.slice(0, keep).reduce((a, b) => a + b, 0);
  for (let i = 0; i < keep; i++) if ((r -= p[i]) < 0) return ids[i];
  return ids[keep - 1];
}

describe('sampling', () => {
  it('top-k selection, top-p, min-p and the penalty draw exactly what a full sort draws', () => {
    const r = mulberry32(5);
    for (let trial = 0; trial < 200; trial++) {
      const vocab = 50 + Math.floor(r() * 500);
      // Quantized values: many exact ties, which rank by token id.
      const logits = Float32Array.from({ length: vocab }, () => Math.round(r() * 40) / 4 - 5);
      const s: SamplingSettings = {
        temperature: [0, 0.5, 1, 1.7][trial % 4],
        topK: [0, 1, 5, 40, 100, vocab, vocab + 3][trial % 7],
        topP: r() < 0.5 ? 1 : 0.3 + 0.7 * r(),
        minP: r() < 0.5 ? 0 : 0.2 * r(),
        repetitionPenalty: r() < 0.5 ? 1 : 1.3,
        seed: trial,
      };
      const seen = new Set(Array.from({ length: 10 }, () => Math.floor(r() * vocab)));
      const a = Uint32Array.of(trial);
      const b = new Rng(trial);
      for (let draw = 0; draw < 5; draw++)
        assert.equal(sampleToken(logits, s, seen, a), plainSample(logits, s, seen, b), `trial ${trial} ${JSON.stringify(s)}`);
    }
  });

  it('without top-k, ranking only what top-p and min-p can keep draws what a full sort draws (32k vocabulary)', () => {
    const r = mulberry32(9);
    const vocab = 32000;
    for (let trial = 0; trial < 24; trial++) {
      // A language model's shape: a few likely tokens, a long tail, quantized for ties.
      const logits = Float32Array.from({ length: vocab }, () => Math.round(-6 * Math.log(1e-4 + r()) * 8) / 8 - 10);
      const s: SamplingSettings = {
        temperature: [0.3, 0.8, 1, 1.5][trial % 4],
        topK: 0,
        topP: [1, 0.5, 0.9, 0.99][(trial >> 2) % 4],
        minP: [0, 0.05, 0.2][trial % 3],
        repetitionPenalty: 1,
        seed: trial,
      };
      const [a, b] = [Uint32Array.of(trial), new Rng(trial)];
      for (let draw = 0; draw < 3; draw++)
        assert.equal(sampleToken(logits, s, new Set(), a), plainSample(logits, s, new Set(), b), `trial ${trial} ${JSON.stringify(s)}`);
    }
  });

  it('a penalty that pushes scores past the float range ties them; non-finite logits still give a token', () => {
    // 5e-324 divides every seen positive logit past 3.4e38: those tokens tie at the top and share the draws.
    const logits = Float32Array.from([1, 2, 0.5, -1, 3]);
    const seen = new Set([0, 1, 3]);
    for (const topK of [0, 3]) {
      const s: SamplingSettings = { temperature: 1, topK, topP: 0.95, minP: 0.05, repetitionPenalty: Number.MIN_VALUE, seed: 1 };
      const [a, b] = [Uint32Array.of(3), new Rng(3)];
      const drawn = new Set<number>();
      for (let draw = 0; draw < 64; draw++) {
        const token = sampleToken(logits, s, seen, a);
        assert.equal(token, plainSample(logits, s, seen, b));
        drawn.add(token);
      }
      assert.deepEqual([...drawn].sort(), [0, 1], `topK ${topK}`);
    }
    const s: SamplingSettings = { temperature: 1, topK: 0, topP: 0.9, minP: 0.1, repetitionPenalty: 1, seed: 1 };
    for (const bad of [[NaN, 1, 2], [1, Infinity, 2], [-Infinity, -Infinity, -Infinity], [NaN, NaN, NaN]]) {
      const token = sampleToken(Float32Array.from(bad), s, new Set(), Uint32Array.of(1));
      assert.ok(Number.isInteger(token) && token >= 0 && token < 3, `${bad} gave ${token}`);
    }
  });

  it('a whole-vocabulary ranking ties -0 with +0 and breaks ties by lower id', () => {
    // topK off and a tiny topP keep only the first-ranked token: the lowest id of the best score.
    const s: SamplingSettings = { temperature: 1, topK: 0, topP: 1e-6, minP: 0, repetitionPenalty: 1, seed: 1 };
    const logits = Float32Array.from([-1, -0, 0, 0, -2]);
    assert.equal(sampleToken(logits, s, new Set(), Uint32Array.of(1)), 1);
    assert.equal(sampleToken(Float32Array.from([0, -0, 3, 3, -3]), s, new Set(), Uint32Array.of(1)), 2);
  });
});
