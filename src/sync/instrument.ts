// Instrumentation the CPU context feeds while it runs: the timeline ring of
// controlled runs (who ran what, step by step) and the overlap coverage of
// novelty feedback. Neither changes what the kernel does.

import type { Shm } from '../shm/layout.ts';
import { EV, EV_CAP, EV_WORDS, RUN } from '../run/records.ts';
import { SC } from '../sched/records.ts';
import { MAX_OPS, X, X_OPS, X_SIZE } from './records.ts';
import { Cov, covSet } from '../shm/coverage.ts';
import { F } from './sites.ts';

/** Append one event to the timeline ring (the caller holds the run token). */
export function timelineEvent(shm: Shm, entity: number, kind: EV, arg: number): void {
  const w = shm.w;
  const L = shm.L;
  const n = w[L.run + RUN.EV_LEN]!;
  const at = L.evlog + (n % EV_CAP) * EV_WORDS;
  w[at] = w[L.sched + SC.STEP]!;
  w[at + 1] = entity;
  w[at + 2] = kind;
  w[at + 3] = arg;
  w[L.run + RUN.EV_LEN] = n + 1;
}

/** Operations whose overlap with another entity's counts as coverage: map extension and populate against free and reclaim. */
export const OVERLAP_SITES: ReadonlySet<number> = new Set([
  F.pcpu_extend_area_map, F.pcpu_populate_chunk, F.pcpu_depopulate_chunk, F.pcpu_create_chunk, F.pcpu_destroy_chunk,
  F.free_percpu, F.pcpu_free_area, F.pcpu_reclaim, F.pcpu_alloc_area,
]);

/** Novelty feedback: the overlapping operations other entities are inside while entity `me` enters `site`. */
export function coverOverlap(shm: Shm, me: number, site: number): void {
  const { w, L } = shm;
  for (let e = 0; e < L.nrEntities; e++) {
    if (e === me) continue;
    const x = L.cpus + e * X_SIZE;
    const d = Math.min(w[x + X.OP_DEPTH]!, MAX_OPS);
    for (let i = 0; i < d; i++) {
      const other = w[x + X_OPS + i]!;
      if (OVERLAP_SITES.has(other)) covSet(w, L, Cov.OVERLAP, site, other, 0, 0);
    }
  }
}
