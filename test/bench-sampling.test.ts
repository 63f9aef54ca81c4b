// The sampling benchmark (npm run bench -- sampling) at a tiny shape: every figure positive
// and finite, every row in the table. Timings are not asserted: the machine is shared.
import * as assert from 'node:assert/strict';
import { formatSamplingTable, runSamplingBench } from '../lib/bench/sampling';

describe('sampling benchmark', () => {
  it('times each setting on one row and a batch greedy and sampled', async () => {
    const shape = { hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 512, maxPositions: 128 };
    const r = await runSamplingBench({ shape, batch: 4, steps: 4, draws: 20, repeats: 1, threads: 1 });
    assert.equal(r.perRow.length, 3);
    for (const x of [...r.perRow.map((p) => p.us), r.greedyRate, r.sampledRate]) assert.ok(Number.isFinite(x) && x > 0, `${x}`);
    const table = formatSamplingTable(r);
    for (const p of r.perRow) assert.ok(table.includes(p.name));
    assert.match(table, /sampled \/ greedy \| [0-9.]+x/);
  });
});
