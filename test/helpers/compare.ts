// Comparing float results of two paths (devices, ISA paths, the reference).
import { strict as assert } from 'node:assert';

/** max |a - b| / max(1, max |b|); Infinity when `a` holds a value that is not finite. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let d = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    d = Math.max(d, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return d / scale;
}
