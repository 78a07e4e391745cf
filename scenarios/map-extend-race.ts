import { builder, spice, type Scenario } from './lib/scenario.ts';

export const mapExtendRace: Scenario = {
  name: 'map-extend-race',
  description: 'many small areas force area-map growth (past PAGE_SIZE, to vmalloc) on shared chunks while other CPUs and interrupts free into them',
  // a small page makes maps outgrow PAGE_SIZE (and go to vmalloc/vfree) quickly
  config: (cpus) => ({ cpus, pageSize: 256, dynSize: 2048 }),
  fuzzOps: 12,
  program(ctx) {
    const b = builder(this.name, ctx);
    const grower = ctx.cpu % 2 === 0;
    // a driver allocating its counters in one go: the map grows past 128 entries
    if (grower && ctx.batch === 0) b.burst(130 + b.int(40), 4, 4);
    while (b.length < ctx.ops) {
      if (b.rng() < 0.02 && spice(b, ctx, 1, 0)) continue;
      const wantAlloc = b.liveCount === 0 || (b.liveCount < (grower ? 64 : 24) && b.rng() < (grower ? 0.7 : 0.5));
      if (wantAlloc) {
        const size = b.pick([4, 4, 4, 8, 12, 16] as const);
        b.alloc(size, 4);
      } else if (b.rng() < 0.4 && ctx.cpus > 1) {
        b.irqFreeRandom((ctx.cpu + 1) % ctx.cpus);
      } else if (grower && b.rng() < 0.1) {
        b.unburst(1 + b.int(8));
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
