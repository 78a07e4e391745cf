// Random strategy: at every scheduling point, a uniformly random runnable
// CPU (or the kworker), and half of the time a pending interrupt first.

import type { Layout } from '../shm/layout.ts';
import { SC } from './records.ts';
import { rngSeed } from '../shm/rng.ts';
import { Mode, withIrq, type Choice, type Strategy, type StrategyOptions } from './strategy.ts';

export const randomStrategy: Strategy = {
  mode: Mode.random,
  init(w: Int32Array, L: Layout, o: StrategyOptions): void {
    rngSeed(w, L.sched + SC.RNG0, o.seed);
  },
  choose(c: Choice): number {
    return withIrq(c, c.runnable[c.rand(c.count)]!);
  },
};
