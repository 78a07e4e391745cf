// A context's three innermost functions packed in one word, a byte each
// (innermost lowest): what the race detector keeps of each access's side and
// the heap keeps of each object's allocation and free, as KCSAN and KASAN
// print them. Straight-line code: it runs on every access the race
// detector's cache does not answer.

import { MAX_OPS, X, X_OPS } from './records.ts';
import { siteName } from './sites.ts';

/** The three innermost functions of the operation stack of the context record at `x`, a byte each. */
export function packFrames(w: Int32Array, x: number): number {
  let d = w[x + X.OP_DEPTH]!;
  if (d > MAX_OPS) d = MAX_OPS;
  const top = x + X_OPS + d - 1;
  if (d >= 3) return (w[top]! & 0xff) | ((w[top - 1]! & 0xff) << 8) | ((w[top - 2]! & 0xff) << 16);
  if (d === 2) return (w[top]! & 0xff) | ((w[top - 1]! & 0xff) << 8);
  return d === 1 ? w[top]! & 0xff : 0;
}

/** The functions of a packed word, innermost first. */
export function framesText(f: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const s = (f >>> (8 * i)) & 0xff;
    if (s) out.push(siteName(s));
  }
  return out;
}
