import { builder, stdMix, type Scenario } from './lib/scenario.ts';

/**
 * The benchmark's standard op mix: each CPU allocates (4..4096 bytes, align
 * min(size, 8)) or frees a random live allocation, at most 64 live, then
 * frees everything. Not part of `run all`.
 */
export const benchMix: Scenario = {
  name: 'bench-mix',
  description: 'the standard op mix of the benchmark',
  config: (cpus) => ({ cpus }),
  program(ctx) {
    const b = builder(this.name, ctx);
    stdMix(b, ctx.ops, 64);
    return b.build();
  },
};
