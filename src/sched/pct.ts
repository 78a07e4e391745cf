// PCT (Burckhardt et al., "A Randomized Scheduler with Probabilistic
// Guarantees of Finding Bugs", ASPLOS 2010): every entity gets a distinct
// random priority; the highest-priority runnable entity runs; at d-1 random
// steps in [1, k] the running entity drops below everyone else. A bug of
// depth d among n entities and k steps is found with probability at least
// 1/(n * k^(d-1)) per run.

import type { Layout } from '../shm/layout.ts';
import { MAX_CHANGE_POINTS, SC } from './records.ts';
import { rngBelow, rngSeed } from '../shm/rng.ts';
import { Mode, withIrq, type Choice, type Strategy, type StrategyOptions } from './strategy.ts';

export const pctStrategy: Strategy = {
  mode: Mode.pct,
  init(w: Int32Array, L: Layout, o: StrategyOptions): void {
    const rng = L.sched + SC.RNG0;
    rngSeed(w, rng, o.seed);
    const d = Math.max(1, Math.min(o.depth, MAX_CHANGE_POINTS + 1));
    w[L.sched + SC.DEPTH] = d;
    w[L.sched + SC.CHANGES_DONE] = 0;
    // distinct initial priorities d .. d+n-1, a random permutation (Fisher-Yates)
    const prio = Array.from({ length: o.entities }, (_, i) => d + i);
    for (let i = prio.length - 1; i > 0; i--) {
      const j = rngBelow(w, rng, i + 1);
      [prio[i], prio[j]] = [prio[j]!, prio[i]!];
    }
    prio.forEach((p, e) => (w[L.schedPrio + e] = p));
    const k = Math.max(1, o.expectedSteps);
    const points = Array.from({ length: d - 1 }, () => 1 + rngBelow(w, rng, k)).sort((a, b) => a - b);
    for (let i = 0; i < MAX_CHANGE_POINTS; i++) w[L.schedChange + i] = points[i] ?? 0x7fffffff;
  },
  choose(c: Choice): number {
    const { w, L } = c;
    // at the i-th change point the running entity drops to priority d-1-i
    for (let i = w[L.sched + SC.CHANGES_DONE]!; i < MAX_CHANGE_POINTS && c.step >= w[L.schedChange + i]!; i++) {
      w[L.schedPrio + c.current] = w[L.sched + SC.DEPTH]! - 1 - i;
      w[L.sched + SC.CHANGES_DONE] = i + 1;
    }
    let best = c.runnable[0]!;
    for (let i = 1; i < c.count; i++) {
      const e = c.runnable[i]!;
      if (w[L.schedPrio + e]! > w[L.schedPrio + best]!) best = e;
    }
    return withIrq(c, best);
  },
};
