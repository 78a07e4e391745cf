import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';

export const oom: Scenario = {
  name: 'oom',
  description: 'failure injection at every allocation site (kmalloc, vmalloc, pages, vm areas, mapping): every error path must leave a valid state',
  config: (cpus) => ({ cpus, pageSize: 1024 }),
  fail: (seed) => ({ ppm: 20_000, seed }),
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 48, (x) => spice(x, ctx, 0.08, 0.1));
    return b.build();
  },
};
