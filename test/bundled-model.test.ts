// The bundled model (DEFAULT_MODEL_DIR): the runtime and the training recipe agree on it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MODEL_DIR, loadModel, type Model } from '../lib';

const dir = DEFAULT_MODEL_DIR;

interface TrainerEval {
  perplexity: number;
  prefill: 'iterative' | 'sequential';
  passes: number;
  context: number;
  tokens: number;
  bos: boolean;
  text: string;
}

describe('bundled model', function () {
  let model: Model;
  const record = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8')) as TrainerEval;

  before(async () => {
    model = await loadModel();
  });
  after(() => model.dispose());

  it('loads by default as an LCKV model that caches layers 0, 6 and 7', () => {
    assert.equal(model.info.modelType, 'lckv-llama');
    assert.deepEqual(model.info.cachedLayers, [0, 6, 7]);
    assert.ok(model.info.hasTokenizer);
  });

  it("perplexity on the held-out text matches the trainer's own evaluation within 1%", async () => {
    const text = fs.readFileSync(path.join(dir, record.text), 'utf8');
    const bos = model.info.config.bos_token_id as number;
    const ids = [...(record.bos ? [bos] : []), ...model.tokenize(text, { addSpecialTokens: false })];
    assert.equal(ids.length - Math.ceil(ids.length / record.context), record.tokens, 'same scored tokens');
    const ppl = await model.perplexity(ids, { prefill: record.prefill, passes: record.passes, context: record.context });
    const gap = Math.abs(ppl - record.perplexity) / record.perplexity;
    assert.ok(gap < 0.01, `runtime ${ppl.toFixed(3)} vs trainer ${record.perplexity.toFixed(3)} (${(gap * 100).toFixed(2)}%)`);
  });

  it('stays below the perplexity recorded in models/README.md (+2%)', async () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'models', 'README.md'), 'utf8');
    const recorded = record.perplexity.toFixed(1);
    assert.ok(readme.includes(recorded), `models/README.md records ${recorded}`);
    const text = fs.readFileSync(path.join(dir, record.text), 'utf8');
    const ppl = await model.perplexity(text, { prefill: record.prefill, passes: record.passes, context: record.context });
    assert.ok(ppl < Number(recorded) * 1.02, `perplexity ${ppl.toFixed(2)} vs recorded ${recorded}`);
  });

  it('perplexity (reduced natively, in double) equals exp(mean NLL) computed here from logits()', async () => {
    const ids = model.tokenize(fs.readFileSync(path.join(dir, record.text), 'utf8')).slice(0, 300);
    const v = model.info.vocabSize;
    let nll = 0;
    let count = 0;
    for (let start = 0; start < ids.length - 1; start += 128) {
      const window = ids.slice(start, start + 128);
      const logits = await model.logits(window, { prefill: 'iterative' });
      for (let i = 0; i + 1 < window.length; i++, count++) {
        const row = logits.subarray(i * v, (i + 1) * v);
        const max = row.reduce((m, x) => (x > m ? x : m), -Infinity);
        const sum = row.reduce((acc, x) => acc + Math.exp(x - max), 0);
        nll += Math.log(sum) + max - row[window[i + 1]];
      }
    }
    const ppl = await model.perplexity(ids, { prefill: 'iterative', context: 128 });
    assert.ok(Math.abs(ppl / Math.exp(nll / count) - 1) < 1e-12, `${ppl} vs ${Math.exp(nll / count)}`);
  });

  it('continues "The" with English words', async () => {
    const out = await model.generate('The', { maxTokens: 24, seed: 3 });
    const words = out.text.split(/\s+/).filter((w) => /^[A-Za-z][a-z]*[,.;:!?']?$/.test(w));
    assert.ok(words.length >= 8, `text: ${JSON.stringify(out.text)}`);
  });
});
