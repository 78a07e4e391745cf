import { FREE_IRQSAVE, FREE_PREEMPT_OFF } from './lib/program.ts';
import { builder, STD_SIZES, type Scenario } from './lib/scenario.ts';

export const irqFree: Scenario = {
  name: 'irq-free',
  description: 'frees from atomic context (other CPUs\' interrupt handlers, under a caller spinlock, with preemption off) racing allocations',
  config: (cpus) => ({ cpus }),
  program(ctx) {
    const b = builder(this.name, ctx);
    while (b.length < ctx.ops) {
      if (b.liveCount < 48 && (b.liveCount === 0 || b.rng() < 0.55)) {
        const size = b.pick(STD_SIZES);
        b.alloc(size, Math.min(size, 8));
        continue;
      }
      const r = b.rng();
      if (r < 0.45 && ctx.cpus > 1) b.irqFreeRandom((ctx.cpu + 1 + b.int(ctx.cpus - 1)) % ctx.cpus);
      else if (r < 0.65) b.freeRandom(FREE_IRQSAVE);
      else if (r < 0.8) b.freeRandom(FREE_PREEMPT_OFF);
      else b.freeRandom();
    }
    return b.build();
  },
};
