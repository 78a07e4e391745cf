// POS and URW decide as their papers say (unit tests on a fake scheduling
// point), and the portfolio rotates strategies and depths and says which
// one found each finding.

import test from 'ava';
import type { Layout } from '../src/shm/layout.ts';
import { SC } from '../src/sched/records.ts';
import { X, X_SIZE } from '../src/sync/records.ts';
import { rngBelow } from '../src/shm/rng.ts';
import { Mode, type Choice } from '../src/sched/strategy.ts';
import { posStrategy } from '../src/sched/pos.ts';
import { urwStrategy } from '../src/sched/urw.ts';
import { strategyForRun } from '../src/explore/fuzz.ts';

const ENTITIES = 4;

/** Shared words for a strategy: the SC block, priorities and per-entity records. */
function fakePoint(): { w: Int32Array; L: Layout; choice: (runnable: number[], current: number) => Choice } {
  const L = { sched: 0, schedPrio: SC.SIZE, cpus: SC.SIZE + ENTITIES, nrEntities: ENTITIES } as unknown as Layout;
  const w = new Int32Array(SC.SIZE + ENTITIES + ENTITIES * X_SIZE);
  const choice = (runnable: number[], current: number): Choice => ({
    w, L, current, runnable: Int32Array.from(runnable), count: runnable.length, step: 0,
    canIrq: () => false, rand: (n) => rngBelow(w, L.sched + SC.RNG0, n),
  });
  return { w, L, choice };
}

test('POS: the entity that ran and every entity waiting for the same lock get fresh priorities; others keep theirs', (t) => {
  const { w, L, choice } = fakePoint();
  posStrategy.init(w, L, { seed: 7, entities: ENTITIES, depth: 3, expectedSteps: 100 });
  // entity 1 is about to take lock 1 (pcpu_lock), so is entity 2; entity 3 waits for lock 0
  w[L.cpus + 1 * X_SIZE + X.PENDING] = 2;
  w[L.cpus + 2 * X_SIZE + X.PENDING] = 2;
  w[L.cpus + 3 * X_SIZE + X.PENDING] = 1;
  // make entity 1 the highest priority: it is chosen, and its pending resource recorded
  w[L.schedPrio + 1] = 0x7ffffffe;
  t.is(posStrategy.choose(choice([0, 1, 2, 3], 0)) >> 1, 1);
  t.is(w[L.sched + SC.POS_RES], 2);
  const before = Array.from(w.subarray(L.schedPrio, L.schedPrio + ENTITIES));
  // entity 1 ran its event (took pcpu_lock): 1 and 2 (racing on it) are re-drawn, 0 and 3 are not
  posStrategy.choose(choice([0, 1, 2, 3], 1));
  const after = Array.from(w.subarray(L.schedPrio, L.schedPrio + ENTITIES));
  t.is(after[0], before[0]);
  t.is(after[3], before[3]);
  t.not(after[1], before[1]);
  t.not(after[2], before[2]);
});

test('POS always runs the highest-priority runnable entity', (t) => {
  const { w, L, choice } = fakePoint();
  posStrategy.init(w, L, { seed: 3, entities: ENTITIES, depth: 3, expectedSteps: 100 });
  for (let i = 0; i < 200; i++) {
    const runnable = [0, 1, 2, 3].filter(() => rngBelow(w, L.sched + SC.RNG0, 2) === 1);
    if (!runnable.length) continue;
    const cur = runnable[0]!;
    const e = posStrategy.choose(choice(runnable, cur)) >> 1;
    const best = runnable.reduce((b, x) => (w[L.schedPrio + x]! > w[L.schedPrio + b]! ? x : b));
    t.is(e, best);
  }
});

test('URW picks each runnable entity in proportion to the events it has left', (t) => {
  const { w, L, choice } = fakePoint();
  urwStrategy.init(w, L, { seed: 5, entities: ENTITIES, depth: 3, expectedSteps: 0, entitySteps: [300, 100, 100, 1] });
  // entity 0 has passed 100 of its 300 points: it has 200 left against 100, 100 and 1
  w[L.cpus + 0 * X_SIZE + X.STEPS] = 100;
  const n = 40_000;
  const hits = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) hits[urwStrategy.choose(choice([0, 1, 2, 3], 0)) >> 1]!++;
  const expect = [200, 100, 100, 1].map((x) => (x / 401) * n);
  for (let e = 0; e < ENTITIES; e++) t.true(Math.abs(hits[e]! - expect[e]!) < 4 * Math.sqrt(expect[e]!) + 5, `entity ${e}: ${hits[e]} vs ${expect[e]}`);
  // a uniform walk would give each about n/4: entity 0 gets twice entity 1's share
  t.true(hits[0]! > 1.7 * hits[1]!);
});

test('the portfolio rotates PCT at depths 1-3, POS, URW and random; an explicit strategy is used for every run', (t) => {
  const seen = new Set<string>();
  for (let run = 0; run < 12; run++) {
    const { mode, depth } = strategyForRun({ strategy: Mode.portfolio, depth: 3 }, run);
    seen.add(mode === Mode.pct ? `pct${depth}` : Mode[mode]);
  }
  t.deepEqual([...seen].sort(), ['pct1', 'pct2', 'pct3', 'pos', 'random', 'urw']);
  for (let run = 0; run < 5; run++) t.deepEqual(strategyForRun({ strategy: Mode.pos, depth: 2 }, run), { mode: Mode.pos, depth: 2 });
});
