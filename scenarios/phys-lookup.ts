import { builder, spice, stdMix, type Scenario } from './lib/scenario.ts';
import type { Config } from '../src/shm/config.ts';

/**
 * per_cpu_ptr_to_phys() of every CPU's copy of live areas -- in the first
 * chunk (its dynamic and its reserved area) and in chunks created later --
 * while the CPUs allocate and free the standard mix. Each lookup is checked
 * against where the area's bytes really are. The machine varies with the
 * seed: an embedded first chunk with vmalloc'd chunks (percpu-vm), a page
 * first chunk (vmalloc-mapped itself), and contiguous km chunks. 2.6.35 gets
 * two cases wrong (both known issues): areas that do not start a page (the
 * offset is dropped) and first-chunk addresses of CPUs other than unit 0's
 * (not recognized as the first chunk's).
 */
function machine(cpus: number, seed: number): Partial<Config> {
  switch (seed % 3) {
    case 1:
      return { cpus, firstChunk: 'page' };
    case 2:
      return { cpus, backend: 'km' };
    default:
      return { cpus };
  }
}

export const physLookup: Scenario = {
  name: 'phys-lookup',
  description: "per_cpu_ptr_to_phys() of every CPU's copy of live areas (first chunk, its reserved area, later chunks; embed, page and km first chunks)",
  config: machine,
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 48, (x) => {
      const r = x.rng();
      if (r < 0.15) {
        x.physRandom(x.int(ctx.cpus));
        return true;
      }
      // reserved areas (module static percpu) live in the first chunk's reserved part
      if (r < 0.2) return x.alloc(x.pick([4, 16, 64, 256] as const), 8, true);
      return spice(x, ctx, 0.02, 0.03);
    });
    return b.build();
  },
};
