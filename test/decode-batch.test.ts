// The addon's batched decode step writes its logits straight into the array it resolves
// with: the caller's reused buffer when it is large enough (so a scheduler stepping many
// times a second allocates nothing per step), else a new one. Either way the logits are
// those of the same step without a buffer.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpoint } from '../lib/checkpoint';
import { parseConfig } from '../lib/config';
import { fromNative } from '../lib/errors';
import { native, type NativeModel, type NativeSequence } from '../lib/native';
import { makeCheckpoint, removeDir, tmpDir } from './fixtures';

const VOCAB = 48;

describe('decodeBatch: logits written into the array it resolves with', function () {
  const addon = native();
  let dir: string;
  let model: NativeModel;

  before(async () => {
    dir = tmpDir('lckv-decode-batch-');
    makeCheckpoint(dir, { numLayers: 4, layerTypes: '0_2_2_3', hiddenSize: 32, numHeads: 4, numKvHeads: 2, vocabSize: VOCAB, seed: 11 });
    const parsed = parseConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')));
    const weights = await readCheckpoint(dir);
    model = new addon.NativeModel(parsed.native, weights.files, weights.tensors, {
      device: 'cpu',
      threads: 2,
      kvDtype: 'f32',
      kvBytes: 0,
      kvTokens: 0,
    });
  });
  after(() => {
    model?.dispose();
    removeDir(dir);
  });

  /** Three sequences holding the same 5-token prompt, ready for a decode step. */
  async function prompted(): Promise<NativeSequence[]> {
    const seqs = [0, 1, 2].map(() => new addon.NativeSequence(model));
    for (const s of seqs) await s.run(Int32Array.from([1, 7, 3, 9, 4]), 2, 0, false);
    return seqs;
  }
  const step = Int32Array.from([5, 6, 7]);

  it('a large enough buffer is written in place; the logits equal a step without one', async () => {
    const fresh = await addon.decodeBatch(await prompted(), step);
    assert.equal(fresh.length, 3 * VOCAB);

    const buffer = new Float32Array(5 * VOCAB).fill(NaN);
    const got = await addon.decodeBatch(await prompted(), step, undefined, buffer);
    assert.equal(got.buffer, buffer.buffer);
    assert.equal(got.length, 3 * VOCAB);
    assert.deepEqual(got, fresh);
    assert.ok(Number.isNaN(buffer[3 * VOCAB]), 'floats past the result are left alone');

    const wanted = await addon.decodeBatch(await prompted(), step, Uint8Array.from([0, 1, 0]), buffer);
    assert.equal(wanted.buffer, buffer.buffer);
    assert.deepEqual(wanted, fresh.subarray(VOCAB, 2 * VOCAB));
  });

  it('a buffer too small is left untouched and a new array is returned', async () => {
    const small = new Float32Array(2 * VOCAB).fill(-1);
    const got = await addon.decodeBatch(await prompted(), step, undefined, small);
    assert.notEqual(got.buffer, small.buffer);
    assert.equal(got.length, 3 * VOCAB);
    assert.ok(small.every((v) => v === -1));
  });

  it('a step that fails rejects with its code and leaves the sequences usable', async () => {
    const seqs = await prompted();
    await assert.rejects(
      addon.decodeBatch(seqs, Int32Array.from([5, VOCAB, 7]), undefined, new Float32Array(3 * VOCAB)).catch((e) => {
        throw fromNative(e);
      }),
      (e: Error & { code?: string }) => e.code === 'TOKEN_OUT_OF_RANGE',
    );
    assert.equal((await addon.decodeBatch(seqs, step)).length, 3 * VOCAB);
  });
});
