import { Ctx, Gfp, allocFlags } from './lib/program.ts';
import { builder, type Scenario } from './lib/scenario.ts';

// The balance work and the map extension work at their busiest: big areas
// drive chunks full and empty again (the balance work destroys them, and
// creates and populates chunks for atomic allocations), small atomic areas
// use up chunks' map entries (atomic allocations cannot extend a map: they
// ask the chunk's map_extend_work to), and GFP_KERNEL allocations extend
// maps themselves, with pcpu_lock dropped, while frees and interrupt frees
// move the chunks between slot lists.
export const balanceRace: Scenario = {
  name: 'balance-race',
  description: 'the balance work creates, populates and destroys chunks while allocations, frees and map extensions (synchronous and by map_extend_work) are in flight',
  kernels: ['4.1'],
  config: (cpus) => ({ cpus, maxChunks: Math.min(32 + cpus * 12, 256) }),
  fuzzOps: 24,
  program(ctx) {
    const b = builder(this.name, ctx, 48);
    const small = ctx.cpu % 2 === 1;
    while (b.length < ctx.ops) {
      if (b.liveCount < (small ? 40 : 4) && (b.liveCount === 0 || b.rng() < 0.6)) {
        if (small) {
          // many small areas: the chunk's map fills up; atomic ones leave the extension to the work
          const atomic = b.rng() < 0.6;
          b.allocWith(b.pick([2, 4, 8, 12] as const), allocFlags(2, atomic ? { gfp: Gfp.ATOMIC, ctx: b.rng() < 0.5 ? Ctx.IRQS_OFF : Ctx.SPINLOCK } : {}));
        } else {
          b.alloc(b.pick([8192, 16384, 24576, 32768] as const), b.pick([8, 4096] as const));
        }
      } else if (b.rng() < 0.25 && ctx.cpus > 1) {
        b.irqFreeRandom((ctx.cpu + 1) % ctx.cpus);
      } else {
        b.freeRandom();
      }
    }
    return b.build();
  },
};
