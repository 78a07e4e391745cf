import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';
import { SIZE_MIXES } from './lib/sizes.ts';

/**
 * Areas of 1-12 bytes at alignments 1-4 in a first chunk with a small
 * dynamic region (the other CPUs' tiny areas fill it first). CPU 0's first
 * batch leaves a dynamic chunk with holes under 4 bytes and a stale
 * contig_hint, unless other CPUs get in between: where 2.6.35's walk escape
 * lives (a known issue). Everything else is the tiny mix at random.
 */
const DYN = 80;
const UNIT = 32768; // the unit size of this config (PCPU_MIN_UNIT_SIZE)

export const tinySizes: Scenario = {
  name: 'tiny-sizes',
  description: '1-12-byte areas at alignments 1-4 in a small dynamic region: heads, tails and holes under 4 bytes',
  config: (cpus) => ({ cpus, reservedSize: 0, dynSize: DYN }),
  fuzzOps: 52,
  program(ctx) {
    const b = builder(this.name, { ...ctx, sizes: ctx.sizes ?? SIZE_MIXES.tiny!.mix });
    if (ctx.batch === 0 && ctx.cpu === 0) {
      // a chunk of two halves; free the first, fill it with 1- and 4-byte
      // areas and an exact remainder (no allocation in it fails, and its last
      // block stays allocated, so nothing refreshes its contig_hint), then
      // free the 1-byte areas and ask for 2 bytes
      const half = UNIT / 2;
      b.alloc(DYN, 1); // the first chunk's dynamic region, when nobody took it yet
      const first = b.allocTracked(half, 8);
      b.alloc(half, 8);
      b.freeTracked(first);
      const pairs = 4 + b.int(5);
      const ones: number[] = [];
      for (let i = 0; i < pairs; i++) {
        ones.push(b.allocTracked(1, 1));
        b.alloc(4, 1);
      }
      b.alloc(half - 5 * pairs, 1);
      for (const slot of ones) b.freeTracked(slot);
      b.alloc(2 + b.int(2), 1);
    }
    stdMix(b, ctx.ops, 24, (x) => spice(x, ctx, 0.005, 0.1));
    return b.build();
  },
};
