// A scenario of your own, in the shape of the built-in ones (scenarios/*.ts):
// every CPU keeps a few areas of odd sizes live and now and then frees a
// whole burst of them from other CPUs' interrupt handlers, while CPU 0 also
// allocates big areas that create and empty chunks (so the reclaim work
// races the bursts).
//
//   npx percpu-stress run examples/scenarios/irq-burst.ts --cpus 4 --ops 2000
//   npx percpu-stress fuzz examples/scenarios/irq-burst.ts --runs 200
//
// A scenario file exports one scenario as its default export. It may use
// the program builder and helpers of scenarios/lib like the built-in ones.

import { builder, type Scenario } from '../../scenarios/lib/scenario.ts';

const SIZES = [12, 20, 24, 40, 96] as const;

const irqBurst: Scenario = {
  name: 'irq-burst',
  description: 'odd-sized areas freed in bursts from other CPUs\' interrupt handlers while CPU 0 churns big chunks',
  // the machine: the default first chunk on `cpus` CPUs
  config: (cpus) => ({ cpus }),
  // ops per CPU of a controlled fuzz run
  fuzzOps: 24,
  program(ctx) {
    const b = builder(this.name, ctx);
    while (b.length < ctx.ops) {
      const r = b.rng();
      if (ctx.cpu === 0 && r < 0.05) {
        b.alloc(16384, 8); // a chunk of its own: created now, emptied when freed
      } else if (r < 0.15 && ctx.cpus > 1 && b.liveCount >= 3) {
        // a burst: three frees handed to the next CPU's interrupt handler
        for (let i = 0; i < 3; i++) b.irqFreeRandom((ctx.cpu + 1) % ctx.cpus);
      } else if (b.liveCount < 16 && (b.liveCount === 0 || r < 0.6)) {
        b.alloc(b.pick(SIZES), 4);
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};

export default irqBurst;
