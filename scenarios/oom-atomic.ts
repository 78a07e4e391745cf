import { Ctx, Gfp, allocFlags } from './lib/program.ts';
import { builder, spice, STD_SIZES, type Scenario } from './lib/scenario.ts';

// Failure injection on every allocation site Linux 4.1's paths reach: map
// extension (synchronous and by map_extend_work), chunk creation and
// population by pcpu_alloc and by the balance work, with atomic allocations
// asking for urgent population after their failures.
export const oomAtomic: Scenario = {
  name: 'oom-atomic',
  description: 'failure injection at every allocation site of 4.1\'s paths (map extension, chunk creation and population by pcpu_alloc and the balance work) with atomic allocations in the mix',
  kernels: ['4.1'],
  config: (cpus) => ({ cpus, pageSize: 1024 }),
  fail: (seed) => ({ ppm: 20_000, seed }),
  fuzzOps: 30,
  program(ctx) {
    const b = builder(this.name, ctx);
    while (b.length < ctx.ops) {
      if (spice(b, ctx, 0.06, 0.1)) continue;
      if (b.liveCount < 48 && (b.liveCount === 0 || b.rng() < 0.55)) {
        const size = b.pick(STD_SIZES);
        if (b.rng() < 0.45) b.allocWith(size, allocFlags(Math.min(size, 8), { gfp: Gfp.ATOMIC, ctx: Ctx.SPINLOCK }));
        else b.alloc(size, Math.min(size, 8));
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
