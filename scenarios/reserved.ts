import { builder, spice, type Scenario } from './lib/scenario.ts';

export const reserved: Scenario = {
  name: 'reserved',
  description: 'reserved allocations (module static percpu) up to exhaustion of the reserved chunk, mixed with normal ones',
  config: (cpus) => ({ cpus, reservedSize: 4096 }),
  program(ctx) {
    const b = builder(this.name, ctx, 32);
    while (b.length < ctx.ops) {
      if (spice(b, ctx, 0.02, 0.08)) continue;
      if (b.liveCount < 24 && (b.liveCount === 0 || b.rng() < 0.6)) {
        const size = b.pick([16, 64, 128, 256, 512] as const);
        b.alloc(size, 8, b.rng() < 0.7);
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
