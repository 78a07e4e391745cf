import { builder, type Scenario } from './lib/scenario.ts';

const BIG = [8192, 12288, 16384, 24576, 32768] as const;

export const reclaimRace: Scenario = {
  name: 'reclaim-race',
  description: 'big areas drive chunks full and empty again and again, so reclaim runs while other CPUs allocate and create chunks',
  config: (cpus) => ({ cpus, maxChunks: Math.min(32 + cpus * 12, 256) }),
  fuzzOps: 12,
  program(ctx) {
    const b = builder(this.name, ctx, 8);
    while (b.length < ctx.ops) {
      if (b.liveCount < 4 && (b.liveCount === 0 || b.rng() < 0.5)) {
        const size = b.rng() < 0.7 ? b.pick(BIG) : b.pick([64, 256, 1024] as const);
        b.alloc(size, b.pick([8, 64, 4096] as const));
      } else if (b.rng() < 0.25 && ctx.cpus > 1) {
        b.irqFreeRandom((ctx.cpu + 1) % ctx.cpus);
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
