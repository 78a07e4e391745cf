import { builder, spice, stdMix, sundries, type Scenario } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';
import { ProgramBuilder } from './lib/program.ts';
import type { Config } from '../src/shm/config.ts';

/** First-chunk layouts, chosen by seed. */
function layout(cpus: number, seed: number): Partial<Config> {
  const half = Math.max(1, Math.floor(cpus / 2));
  const nodes = Array.from({ length: cpus }, (_, i) => (i < half ? 0 : 1));
  switch (seed % 4) {
    case 0:
      return { cpus, firstChunk: 'embed', reservedSize: 8192 };
    case 1:
      return { cpus, firstChunk: 'page', reservedSize: 8192 };
    case 2:
      return { cpus, firstChunk: 'embed', reservedSize: 0, nodes: cpus > 1 ? nodes : [0] };
    default:
      return { cpus, firstChunk: 'page', reservedSize: 0, staticSize: 12288 };
  }
}

export const boot: Scenario = {
  name: 'boot',
  description: 'first-chunk layouts (embed and page, NUMA groups, with and without a reserved area) and allocations in the irqs-off early-boot phase',
  config: layout,
  boot(seed) {
    // the boot CPU allocates with irqs off before anything else runs; it keeps
    // about half of them for the whole run, like init code does
    const b = new ProgramBuilder(`boot/${seed}`, 32);
    for (let i = 0; i < 24; i++) {
      if (b.liveCount && b.rng() < 0.3) b.freeRandom();
      else b.alloc(b.pick([4, 8, 64, 256, 2048] as const), 8, b.rng() < 0.3);
    }
    return b.build();
  },
  program(ctx) {
    const b = builder(this.name, ctx);
    // the other CPUs start once CPU 0 has finished its first allocations (an initcall they depend on)
    if (ctx.batch === 0 && ctx.cpus > 1) {
      if (ctx.cpu === 0) {
        for (let i = 0; i < 3; i++) b.alloc(b.pick([8, 64, 512] as const), 8);
        b.complete(Lock.completion_a);
      } else {
        b.wait(Lock.completion_a);
      }
    }
    stdMix(b, ctx.ops, 48, (x) => sundries(x, 0.08) || spice(x, ctx, 0.02, 0.1));
    return b.build();
  },
  minOps: 4,
};
