import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';

/**
 * per_cpu_ptr_to_phys() of every CPU's copy of live areas -- in the first
 * chunk and in chunks created later -- while the CPUs allocate and free the
 * standard mix. Each lookup is checked against where the area's bytes
 * really are. 2.6.35 gets two cases wrong (both known issues): areas that
 * do not start a page (the offset is dropped) and first-chunk addresses of
 * CPUs other than 0 (not recognized as the first chunk's).
 */
export const physLookup: Scenario = {
  name: 'phys-lookup',
  description: "per_cpu_ptr_to_phys() of every CPU's copy of live areas, first chunk and later chunks, while others allocate and free",
  config: (cpus) => ({ cpus }),
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 48, (x) => {
      if (x.rng() < 0.15) {
        x.physRandom(x.int(ctx.cpus));
        return true;
      }
      return spice(x, ctx, 0.02, 0.03);
    });
    return b.build();
  },
};
