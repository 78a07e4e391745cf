import { builder, spice, stdMix, sundries, type Scenario } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';

export const km: Scenario = {
  name: 'km',
  description: 'the kernel-memory backend (CONFIG_NEED_PER_CPU_KM): contiguous chunks, no populate, with interrupt frees',
  config: (cpus) => ({ cpus, backend: 'km' }),
  program(ctx) {
    const b = builder(this.name, ctx);
    // CPU 0 sets its first areas up before the others start (an init path others wait for)
    if (ctx.batch === 0 && ctx.cpus > 1) {
      if (ctx.cpu === 0) {
        for (let i = 0; i < 3; i++) b.alloc(b.pick([8, 64, 512] as const), 8);
        b.complete(Lock.completion_a);
      } else {
        b.wait(Lock.completion_a);
      }
    }
    stdMix(b, ctx.ops, 48, (x) => sundries(x, 0.08) || spice(x, ctx, 0.02, 0.15));
    return b.build();
  },
  minOps: 4,
};
