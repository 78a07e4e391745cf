// Main-thread side of controlled runs: set the scheduler's shared state up
// before the CPUs start and read the recorded schedule afterwards.

import type { Shm } from '../shm/layout.ts';
import { SC } from './records.ts';
import { Mode, type StrategyOptions } from './strategy.ts';
import { strategyFor } from './strategies.ts';
import type { Schedule } from './schedule.ts';

/** Scheduling points per program op, roughly (for PCT's expected run length). */
export const STEPS_PER_OP = 14;

export function initSched(shm: Shm, mode: Mode, o: StrategyOptions, maxSteps: number, replay?: Schedule): void {
  const { w, L } = shm;
  w.fill(0, L.sched, L.sched + SC.SIZE);
  w.fill(0, L.schedWake, L.schedWake + L.nrEntities);
  w[L.sched + SC.MODE] = mode;
  w[L.sched + SC.TOKEN] = 0;
  w[L.sched + SC.MAX_STEPS] = maxSteps;
  w[L.sched + SC.EXPECTED_STEPS] = o.expectedSteps;
  if (mode === Mode.os) return;
  if (mode === Mode.replay) {
    const pairs = Math.min((replay?.length ?? 0) / 2, L.schedRecCap);
    for (let i = 0; i < pairs * 2; i++) w[L.schedReplay + i] = replay![i]!;
    w[L.sched + SC.REPLAY_LEN] = pairs;
  }
  strategyFor(mode).init(w, L, o);
}

export function recordedSchedule(shm: Shm): Schedule {
  const { w, L } = shm;
  const len = w[L.sched + SC.REC_LEN]!;
  return Array.from(w.subarray(L.schedRec, L.schedRec + len * 2));
}
