import { Ctx, FREE_IRQSAVE, FREE_PREEMPT_OFF, Gfp, allocFlags } from './lib/program.ts';
import { builder, STD_SIZES, type Scenario } from './lib/scenario.ts';

// Linux 4.1's atomic allocations where their users make them: percpu_counter
// and BPF maps allocate with GFP_ATOMIC or GFP_NOWAIT under their own
// spinlocks, with irqs off, in softirq context and in interrupt handlers;
// GFP_NOFS callers count as atomic too. Frees come from every context, and
// some CPUs allocate with GFP_KERNEL, so chunks are created and populated
// while the atomic allocations take only populated pages. One seed in three
// boots a page first chunk (its units vmalloc-mapped page by page), where
// the first chunk's populated pages are all there is for an atomic request
// until the balance work populates more.
export const atomicContexts: Scenario = {
  name: 'atomic-contexts',
  description: 'atomic allocations (GFP_ATOMIC, GFP_NOWAIT, GFP_NOFS) in interrupt handlers, softirq context, under spinlocks and with irqs off, racing GFP_KERNEL allocations and frees',
  kernels: ['4.1'],
  config: (cpus, seed) => (seed % 3 === 1 ? { cpus, firstChunk: 'page' } : { cpus }),
  fuzzOps: 24,
  program(ctx) {
    const b = builder(this.name, ctx);
    const other = (): number => (ctx.cpu + 1 + b.int(Math.max(ctx.cpus - 1, 1))) % ctx.cpus;
    while (b.length < ctx.ops) {
      const r = b.rng();
      if (b.liveCount < 40 && (b.liveCount === 0 || r < 0.5)) {
        const size = b.pick(STD_SIZES);
        const align = Math.min(size, 8);
        const k = b.rng();
        if (k < 0.35) b.alloc(size, align); // GFP_KERNEL, process context
        else if (k < 0.5) b.allocWith(size, allocFlags(align, { gfp: Gfp.ATOMIC, ctx: Ctx.SPINLOCK }));
        else if (k < 0.62) b.allocWith(size, allocFlags(align, { gfp: Gfp.ATOMIC, ctx: Ctx.SOFTIRQ }));
        else if (k < 0.72) b.allocWith(size, allocFlags(align, { gfp: Gfp.NOWAIT, ctx: Ctx.IRQS_OFF }));
        else if (k < 0.8) b.allocWith(size, allocFlags(align, { gfp: Gfp.ATOMIC, ctx: Ctx.PREEMPT_OFF }));
        else if (k < 0.86) b.allocWith(size, allocFlags(align, { gfp: Gfp.NOFS }));
        else if (ctx.cpus > 1) b.irqAlloc(other(), size, align);
        else b.allocWith(size, allocFlags(align, { gfp: Gfp.ATOMIC }));
        continue;
      }
      const f = b.rng();
      if (f < 0.3 && ctx.cpus > 1) b.irqFreeRandom(other());
      else if (f < 0.5) b.freeRandom(FREE_IRQSAVE);
      else if (f < 0.6) b.freeRandom(FREE_PREEMPT_OFF);
      else b.freeRandom();
    }
    return b.build();
  },
};
