// Shared helpers of the robustness tests (errors, fuzz, package): a tiny checkpoint shape,
// temp directories, and assertions about the typed errors lckv raises.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LckvError } from '../../lib';
import type { LckvErrorCode } from '../../lib';
import { type CheckpointSpec, removeDir, tmpDir } from '../fixtures';

/** The smallest useful model: 2 layers, hidden 16, vocab 32 (loads in a millisecond). */
export const TINY: CheckpointSpec = {
  numLayers: 2,
  hiddenSize: 16,
  intermediateSize: 32,
  numHeads: 2,
  vocabSize: 32,
  maxPositionEmbeddings: 64,
};

/** Runs fn with a fresh temp dir under os.tmpdir(), removed afterwards whatever happens. */
export async function withTmpDir<T>(fn: (dir: string) => Promise<T> | T, prefix = 'lckv-robust-'): Promise<T> {
  const dir = tmpDir(prefix);
  try {
    return await fn(dir);
  } finally {
    removeDir(dir);
  }
}

/** Collects temp dirs made during a test file and removes them in `after`. */
export class TmpDirs {
  private dirs: string[] = [];

  make(prefix = 'lckv-errors-'): string {
    const dir = tmpDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  /** A fresh empty sub-directory path inside a tracked temp dir (not created). */
  path(name: string): string {
    return path.join(this.make(), name);
  }

  removeAll(): void {
    for (const d of this.dirs.splice(0)) removeDir(d);
  }
}

function describeValue(err: unknown): string {
  if (err instanceof LckvError) return `LckvError(${err.code}): ${err.message}`;
  if (err instanceof Error) return `${err.constructor?.name ?? 'Error'}: ${err.message}`;
  try {
    return `non-error ${String(err)}`;
  } catch {
    return 'non-error value';
  }
}

/** Asserts that fn (sync or async) throws/rejects an LckvError with exactly `code`; returns it. */
export async function expectLckvError(fn: () => unknown, code: LckvErrorCode): Promise<LckvError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    assert.ok(err instanceof LckvError, `expected LckvError(${code}), got ${describeValue(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${describeValue(err)}`);
    assert.equal(err.name, 'LckvError');
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0, 'the error has a message');
    return err;
  }
  let shown: string;
  try {
    shown = JSON.stringify(result)?.slice(0, 200) ?? String(result);
  } catch {
    shown = typeof result;
  }
  assert.fail(`expected LckvError(${code}), but the call succeeded with ${shown}`);
}

/**
 * The robustness property: a call either succeeds or fails with an LckvError (any code).
 * Anything else (TypeError, RangeError, a plain Error without code, a thrown string) is a bug.
 */
export async function succeedsOrLckvError<T>(fn: () => Promise<T> | T): Promise<{ ok: true; value: T } | { ok: false; error: LckvError }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof LckvError) return { ok: false, error: err };
    throw new Error(`expected success or an LckvError, got ${describeValue(err)}`, { cause: err });
  }
}

/** Writes a JSON file (pretty enough to read when a test fails). */
export function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

export function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
