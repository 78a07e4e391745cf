// POS, partial order sampling (Yuan, Yang, Gu: "Partial Order Aware
// Concurrency Sampling", CAV 2018). Every pending event gets an independent
// random priority and the runnable entity whose next event has the highest
// priority runs. When an event has run, the next event of the entity that
// ran is a new event (a fresh priority), and every other pending event that
// races with it -- here: waits to take the same lock -- gets a fresh
// priority too. Racing events are thus reordered independently of how long
// each entity runs, which samples partial orders far more evenly than a
// uniform walk over interleavings does.
//
// The resource of a pending event is the lock an entity is about to take
// (X.PENDING, set by the lock operations before their scheduling point);
// other points are events with no known resource, which race with nothing.

import type { Layout } from '../shm/layout.ts';
import { SC } from './records.ts';
import { X, X_SIZE } from '../sync/records.ts';
import { rngBelow, rngSeed } from '../shm/rng.ts';
import { Mode, withIrq, type Choice, type Strategy, type StrategyOptions } from './strategy.ts';

const PRIO_RANGE = 0x7fffffff;

export const posStrategy: Strategy = {
  mode: Mode.pos,
  init(w: Int32Array, L: Layout, o: StrategyOptions): void {
    const rng = L.sched + SC.RNG0;
    rngSeed(w, rng, o.seed);
    for (let e = 0; e < o.entities; e++) w[L.schedPrio + e] = rngBelow(w, rng, PRIO_RANGE);
    w[L.sched + SC.POS_RES] = 0;
  },
  choose(c: Choice): number {
    const { w, L } = c;
    const rng = L.sched + SC.RNG0;
    // the event just executed: the current entity's (on the resource recorded when it was chosen)
    const res = w[L.sched + SC.POS_RES]!;
    w[L.schedPrio + c.current] = rngBelow(w, rng, PRIO_RANGE);
    if (res !== 0) {
      for (let e = 0; e < L.nrEntities; e++) {
        if (e !== c.current && w[L.cpus + e * X_SIZE + X.PENDING] === res) w[L.schedPrio + e] = rngBelow(w, rng, PRIO_RANGE);
      }
    }
    let best = c.runnable[0]!;
    for (let i = 1; i < c.count; i++) {
      const e = c.runnable[i]!;
      if (w[L.schedPrio + e]! > w[L.schedPrio + best]!) best = e;
    }
    w[L.sched + SC.POS_RES] = w[L.cpus + best * X_SIZE + X.PENDING]!;
    return withIrq(c, best);
  },
};
