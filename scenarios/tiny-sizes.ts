import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';
import { SIZE_MIXES } from './lib/sizes.ts';
import { Lock } from '../src/sync/locks.ts';

/**
 * Areas of 1-12 bytes at alignments 1-4 in a first chunk with a small
 * dynamic region. With an even seed, CPU 0's first batch (while the other
 * CPUs wait for it) leaves a dynamic chunk with holes under 4 bytes and a
 * stale contig_hint, where 2.6.35's walk escape lives (a known issue): the
 * next small allocation meets it. Everything else is the tiny mix at random.
 */
const DYN = 4096; // static 4096 + dyn 4096: page aligned, so the first chunk keeps exactly this much
const UNIT = 32768; // the unit size of this config (PCPU_MIN_UNIT_SIZE)

export const tinySizes: Scenario = {
  name: 'tiny-sizes',
  description: "1-12-byte areas at alignments 1-4: heads, tails and holes under 4 bytes, and a chunk set up for 2.6.35's walk escape",
  config: (cpus) => ({ cpus, staticSize: 4096, reservedSize: 0, dynSize: DYN }),
  fuzzOps: 52,
  minOps: 40,
  program(ctx) {
    const b = builder(this.name, { ...ctx, sizes: ctx.sizes ?? SIZE_MIXES.tiny!.mix });
    // even seeds: CPU 0 sets the chunk up first while the others wait
    const directed = ctx.batch === 0 && ctx.seed % 2 === 0;
    if (directed && ctx.cpu !== 0) b.wait(Lock.completion_a);
    if (directed && ctx.cpu === 0) {
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
      b.complete(Lock.completion_a);
      b.alloc(2 + b.int(2), 1);
    }
    stdMix(b, ctx.ops, 24, (x) => spice(x, ctx, 0.005, 0.1));
    return b.build();
  },
};
