// URW, uniform random walk (after Zhao et al., "Selectively Uniform
// Concurrency Testing", ASPLOS 2025): a plain random walk picks each
// runnable entity with equal probability, so interleavings where a long
// entity runs late are rare. URW picks each entity with probability
// proportional to the events it has left, which makes every interleaving of
// the remaining events equally likely. The events left are estimated as the
// paper does, from a run's expected length: each entity's expected
// scheduling points (StrategyOptions.entitySteps, from its program length
// and the campaign's measured steps per op) minus the points it has passed.

import type { Layout } from '../shm/layout.ts';
import { SC } from './records.ts';
import { X, X_SIZE } from '../sync/records.ts';
import { rngSeed } from '../shm/rng.ts';
import { Mode, withIrq, type Choice, type Strategy, type StrategyOptions } from './strategy.ts';

export const urwStrategy: Strategy = {
  mode: Mode.urw,
  init(w: Int32Array, L: Layout, o: StrategyOptions): void {
    rngSeed(w, L.sched + SC.RNG0, o.seed);
    const even = Math.max(1, Math.round(o.expectedSteps / o.entities));
    // schedPrio holds each entity's expected total of scheduling points
    for (let e = 0; e < o.entities; e++) w[L.schedPrio + e] = Math.max(1, Math.min(0x3fffffff, Math.round(o.entitySteps?.[e] ?? even)));
  },
  choose(c: Choice): number {
    const { w, L } = c;
    let total = 0;
    for (let i = 0; i < c.count; i++) total += left(w, L, c.runnable[i]!);
    let r = c.rand(Math.min(total, 0x7fffffff));
    for (let i = 0; i < c.count; i++) {
      const e = c.runnable[i]!;
      r -= left(w, L, e);
      if (r < 0) return withIrq(c, e);
    }
    return withIrq(c, c.runnable[c.count - 1]!);
  },
};

/** Events an entity has left, estimated; never below 1 (an entity past its estimate can still run). */
function left(w: Int32Array, L: Layout, e: number): number {
  return Math.max(1, w[L.schedPrio + e]! - w[L.cpus + e * X_SIZE + X.STEPS]!);
}
