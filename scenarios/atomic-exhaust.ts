import { Ctx, Gfp, allocFlags } from './lib/program.ts';
import { builder, type Scenario } from './lib/scenario.ts';

// Atomic allocations that use up the empty populated pages: each CPU asks
// for page-sized areas with GFP_ATOMIC faster than anything populates, so
// allocations fail, set pcpu_atomic_alloc_failed and kick the balance work,
// which populates (and creates chunks) for the next ones; frees in between
// leave fully free chunks for it to destroy.
export const atomicExhaust: Scenario = {
  name: 'atomic-exhaust',
  description: 'atomic allocations exhaust the empty populated pages and wait for the balance work to populate more (creating chunks), while frees empty chunks for it to destroy',
  kernels: ['4.1'],
  config: (cpus) => ({ cpus, maxChunks: Math.min(32 + cpus * 8, 256) }),
  fuzzOps: 20,
  program(ctx) {
    const b = builder(this.name, ctx, 24);
    while (b.length < ctx.ops) {
      if (b.liveCount < 12 && (b.liveCount === 0 || b.rng() < 0.65)) {
        const size = b.pick([1024, 2048, 4096, 4096, 8192] as const);
        const k = b.rng();
        if (k < 0.7) b.allocWith(size, allocFlags(b.pick([8, 64, 4096] as const), { gfp: Gfp.ATOMIC, ctx: b.rng() < 0.5 ? Ctx.SPINLOCK : Ctx.PROCESS }));
        else b.alloc(size, 8);
      } else if (b.rng() < 0.2) {
        b.delay(1 + b.int(6)); // give the worker a moment
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
