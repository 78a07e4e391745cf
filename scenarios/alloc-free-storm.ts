import { builder, spice, stdMix, sundries, type Scenario } from './lib/scenario.ts';

export const allocFreeStorm: Scenario = {
  name: 'alloc-free-storm',
  description: 'every CPU allocates and frees the standard size mix as fast as it can',
  config: (cpus) => ({ cpus }),
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 64, (x) => {
      if (x.rng() < 0.05) {
        x.touchRandom();
        return true;
      }
      return sundries(x, 0.03) || spice(x, ctx, 0.01, 0.05);
    });
    return b.build();
  },
};
