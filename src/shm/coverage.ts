// Coverage of a controlled run, for novelty feedback: a bitmap in shared
// memory with one range per kind of event. A run sets the bits of what it
// did; the campaign keeps the runs that set a bit no run had set before.
//
// Kinds: lockdep dependency edges with the irq usage of both classes (read
// from the lockdep graph after the run), reads-from pairs on the allocator's
// shared fields (field, the function of the write a read observed, the
// reading function, same entity or not), chunk slot transitions (old slot,
// new slot), and operations that overlap on different entities (a map
// extension or populate on one while another frees or reclaims).

import { COV_WORDS_LAYOUT, type Layout } from './layout.ts';
import { RUN } from '../run/records.ts';

export enum Cov { EDGE, READS_FROM, SLOT, OVERLAP }
export const COV_KINDS = ['lockdep edges', 'reads-from pairs', 'slot transitions', 'overlapping operations'] as const;
/** Bits per kind (a power of two). */
export const COV_BITS_PER_KIND = 1 << 14;
export const COV_WORDS = COV_WORDS_LAYOUT;
if ((COV_BITS_PER_KIND * COV_KINDS.length) / 32 !== COV_WORDS) throw new Error('coverage: layout and kinds disagree');

/** Mix a few small integers into a bit index inside the range of `kind`. */
export function covIndex(kind: Cov, a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return kind * COV_BITS_PER_KIND + (h & (COV_BITS_PER_KIND - 1));
}

/** Set a coverage bit (only the token holder runs in a controlled run; Atomics keep free-running runs exact too). */
export function covSet(w: Int32Array, L: Layout, kind: Cov, a: number, b: number, c: number, d: number): void {
  const i = covIndex(kind, a, b, c, d);
  Atomics.or(w, L.cov + (i >>> 5), 1 << (i & 31));
}

export function covOn(w: Int32Array, L: Layout): boolean {
  return w[L.run + RUN.COVERAGE] !== 0;
}

/** The set bits of a run's bitmap. */
export function covBits(w: Int32Array, L: Layout): number[] {
  const out: number[] = [];
  for (let i = 0; i < COV_WORDS; i++) {
    let x = w[L.cov + i]!;
    while (x !== 0) {
      const b = 31 - Math.clz32(x & -x);
      out.push(i * 32 + b);
      x &= x - 1;
    }
  }
  return out;
}
