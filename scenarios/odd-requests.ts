import { Ctx, FREE_IRQSAVE, Gfp, allocFlags } from './lib/program.ts';
import { builder, STD_SIZES, type Scenario } from './lib/scenario.ts';

// Requests at the edges of what __alloc_percpu documents, as a driver can
// make them: alignments that are not powers of two (a structure's size
// taken for its alignment: 3, 6, 12, 24, 40), an alignment over PAGE_SIZE,
// sizes over a unit, reserved requests the reserved chunk cannot hold, with
// GFP_KERNEL and atomic masks, among ordinary allocations and frees. The
// allocator must refuse what it cannot serve (a WARN and NULL) and serve
// the rest as asked: an area aligned to what the caller passed.
export const oddRequests: Scenario = {
  name: 'odd-requests',
  description: 'requests at the edges of the API: alignments that are not powers of two or over PAGE_SIZE, sizes over a unit, oversized reserved requests, among ordinary ones',
  kernels: ['4.1'],
  config: (cpus) => ({ cpus }),
  fuzzOps: 24,
  program(ctx) {
    const b = builder(this.name, ctx);
    while (b.length < ctx.ops) {
      if (b.liveCount < 24 && (b.liveCount === 0 || b.rng() < 0.55)) {
        const k = b.rng();
        const size = b.pick(STD_SIZES);
        const atomic = b.rng() < 0.3 ? { gfp: Gfp.ATOMIC, ctx: Ctx.SPINLOCK } : {};
        if (k < 0.35) b.allocWith(Math.max(size, 8), allocFlags(b.pick([3, 6, 12, 24, 40] as const), atomic));
        else if (k < 0.42) b.allocWith(size, allocFlags(2 * 4096 * (1 + b.int(2)), atomic)); // over PAGE_SIZE: refused
        else if (k < 0.48) b.alloc(64 * 1024 * (1 + b.int(2)), 8); // over a unit: refused
        else if (k < 0.54) b.alloc(size * 64, 8, true); // reserved, often more than the reserved chunk has
        else b.allocWith(size, allocFlags(Math.min(size, 8), atomic));
        continue;
      }
      if (b.rng() < 0.3) b.freeRandom(FREE_IRQSAVE);
      else b.freeRandom();
    }
    return b.build();
  },
};
