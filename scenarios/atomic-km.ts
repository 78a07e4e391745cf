import { Ctx, Gfp, allocFlags } from './lib/program.ts';
import { builder, STD_SIZES, spice, type Scenario } from './lib/scenario.ts';

// Linux 4.1's atomic allocations on the kernel-memory backend: a new chunk is
// populated as a whole when it is created, so atomic allocations find room
// wherever a chunk exists; interrupt handlers allocate and free.
export const atomicKm: Scenario = {
  name: 'atomic-km',
  description: 'atomic and GFP_KERNEL allocations on the kernel-memory backend (chunks populated whole at creation), with interrupt-handler allocations and frees',
  kernels: ['4.1'],
  config: (cpus) => ({ cpus, backend: 'km' }),
  fuzzOps: 24,
  program(ctx) {
    const b = builder(this.name, ctx);
    while (b.length < ctx.ops) {
      if (spice(b, ctx, 0.04, 0.12)) continue;
      if (b.liveCount < 40 && (b.liveCount === 0 || b.rng() < 0.55)) {
        const size = b.pick(STD_SIZES);
        const k = b.rng();
        if (k < 0.5) b.alloc(size, Math.min(size, 8));
        else if (k < 0.85 || ctx.cpus < 2) b.allocWith(size, allocFlags(Math.min(size, 8), { gfp: Gfp.ATOMIC, ctx: Ctx.SPINLOCK }));
        else b.irqAlloc((ctx.cpu + 1) % ctx.cpus, size, Math.min(size, 8));
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
