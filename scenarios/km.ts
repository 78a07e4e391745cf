import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';

export const km: Scenario = {
  name: 'km',
  description: 'the kernel-memory backend (CONFIG_NEED_PER_CPU_KM): contiguous chunks, no populate, with interrupt frees',
  config: (cpus) => ({ cpus, backend: 'km' }),
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 48, (x) => spice(x, ctx, 0.02, 0.15));
    return b.build();
  },
};
