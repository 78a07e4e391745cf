// The in-thread engine, inside its pool thread: a whole controlled run in
// one thread, its CPUs and the kworker as coroutines. This file runs only
// in the suspending form of the sources (bin/suspend.js, bundled as
// dist/inthread-worker.js), where every function that can reach a
// scheduling point is a generator and the one place an entity waits for
// the run token (src/sched/park.ts) is a `yield`.
//
// Each entity plays exactly what it plays on a thread of its own
// (playEntity, with a view of the machine of its own: its Kernel, its
// program runner, its schedulers), so both engines run the same code on
// the same shared memory. The loop below is the whole engine: resume the
// entity that holds the run token until it parks or ends; once the run is
// stopped, resume every entity left so that each unwinds as its thread
// would. A run costs a boot from the machine's image (bootMachine copies
// it), one generator per entity and the verdict; the machines, their views
// and buffers stay for the next run.

import { SC } from '../../sched/records.ts';
import { Mode } from '../../sched/strategy.ts';
import type { Shm } from '../../shm/layout.ts';
import type { Config } from '../../shm/config.ts';
import { newCounters } from '../../report/result.ts';
import type { RunResult } from '../../report/result.ts';
import { scenarioById } from '../../../scenarios/index.ts';
import { Kernel, newShm, planMachine, type MachineSpec } from '../machine.ts';
import { RUN, STOP_BUDGET, STOP_INTERRUPT } from '../records.ts';
import { planFixReplay, setUpRun, specKernel, type RunSpec } from '../spec.ts';
import { runVerdict, type PartOutcome } from '../verdict.ts';
import { allCpus } from '../describe.ts';
import type { FixReplay, InThreadAnswer, InThreadTask } from '../messages.ts';
import { attachedView, playEntity, type Attached, type CpuPart, type EntityEnd, type PartResult } from './entity.ts';
import { coroutine, type Coroutine } from './coroutine.ts';

interface Machine {
  spec: MachineSpec;
  shm: Shm;
  /** The view the verdict reads the final state through (no entity plays on it). */
  judge: Kernel;
  /** One view per entity, made when a run first needs it. */
  views: Attached[];
}

/** Machines kept, most recently used last: a campaign's scenarios each keep theirs. */
const MAX_MACHINES = 24;
const machines = new Map<string, Machine>();

/** The machine a config plans, by the config (planning it again for every run would cost more than the run's boot). */
function machineFor(config: Partial<Config>): Machine {
  const key = JSON.stringify(config);
  let m = machines.get(key);
  if (m) {
    machines.delete(key);
  } else {
    if (machines.size >= MAX_MACHINES) machines.delete(machines.keys().next().value!);
    const spec = planMachine(config);
    const shm = newShm(spec);
    m = { spec, shm, judge: new Kernel(spec, shm), views: [] };
  }
  machines.set(key, m);
  return m;
}

/** How often (in resumes) the loop looks at the clock and the engine's stop word. */
const CHECK_EVERY = 256;

/** Play one run; `stop` is the engine's stop word (STOP_INTERRUPT from the main thread), `budgetEnd` the wall time it must end by (0: none). */
export function playInThread(s: RunSpec, stop: Int32Array, budgetEnd: number): RunResult {
  if (s.strategy === Mode.os) throw new Error('the in-thread engine plays controlled runs only');
  const t0 = Date.now();
  const m = machineFor(s.config);
  const shm = m.shm;
  const bootLog = setUpRun(s, m.spec, shm);
  const entities = s.cpus + 1;
  const w = shm.w;
  const h = shm.L.run;
  const scenario = scenarioById(s.scenarioId);
  const gens: Coroutine[] = [];
  const results: PartResult[] = [];
  const ends: EntityEnd[] = [];
  for (let e = 0; e < entities; e++) {
    const view = (m.views[e] ??= attachedView(new Kernel(m.spec, shm)));
    const part: CpuPart = {
      cpu: e, scenario, seed: s.seed >>> 0, ops: s.ops, durationMs: 0, program: s.programs![e] ?? null, checks: s.checks, setupOps: s.setupOps,
      ...(s.sizes ? { sizes: Int32Array.from(s.sizes) } : {}),
    };
    const res: PartResult = { reclaimRuns: 0, activeMs: 0 };
    results.push(res);
    gens.push(coroutine(playEntity(view, e, s.strategy, false, part, res)));
  }
  const done = new Uint8Array(entities);
  let left = entities;
  // the first resume looks too: an engine already told to stop plays nothing
  let n = CHECK_EVERY - 1;
  while (left > 0) {
    if (++n % CHECK_EVERY === 0 && w[h + RUN.STOP] === 0) {
      const reason = stop[0] !== 0 ? STOP_INTERRUPT : budgetEnd && Date.now() > budgetEnd ? STOP_BUDGET : 0;
      if (reason !== 0 && Atomics.compareExchange(w, h + RUN.STOP, 0, reason) === 0) w[h + RUN.STOP_REASON] = reason;
    }
    let e = w[shm.L.sched + SC.TOKEN]!;
    if (w[h + RUN.STOP] !== 0 || done[e] === 1) {
      // stopped: everyone left unwinds, in entity order
      if (w[h + RUN.STOP] === 0) throw new Error(`the run token went to entity ${e}, whose part is over, while the run goes on`);
      e = done.indexOf(0);
    }
    const r = gens[e]!.next();
    if (r.done) {
      done[e] = 1;
      left--;
      ends[e] = r.value as EntityEnd;
    }
  }
  const outcomes: PartOutcome[] = [];
  for (let e = 0; e < entities; e++) {
    const k = m.views[e]!.k;
    const end = ends[e]!;
    outcomes.push({
      counters: end.runner ? { ...end.runner.counters } : newCounters(), oops: end.oops, stopped: end.stopped,
      reclaimRuns: results[e]!.reclaimRuns, activeMs: results[e]!.activeMs, violations: k.violations.slice(), log: k.log.slice(),
    });
  }
  const stopReason = w[h + RUN.STOP_REASON]!;
  return runVerdict(s, m.judge, outcomes, bootLog, {
    hang: null, stopReason, terminated: false, notes: [], ms: Date.now() - t0, ...(stopReason === STOP_BUDGET ? { cpuStates: allCpus(m.judge) } : {}),
  });
}

/**
 * The replay Engine.verifyKnown will ask for, played now, on this thread,
 * by the same decision (planFixReplay, src/run/spec.ts): the campaign
 * does not wait for a round trip to the thread for every run a known
 * issue's mechanism claims. Only a replay
 * that finished is kept (one cut by a budget or a stop is played again
 * when asked for, as the threads engine would); it must end by the run's
 * own budget (the main thread's timer covers no more).
 */
function playFixReplayAhead(s: RunSpec, r: RunResult, stop: Int32Array, budgetEnd: number): FixReplay | undefined {
  const plan = planFixReplay(s, r);
  if (plan === null || !('spec' in plan)) return undefined;
  const result = playInThread(plan.spec, stop, budgetEnd);
  return result.status === 'incomplete' || result.status === 'interrupted' ? undefined : { fixes: plan.spec.fixes, result };
}

/** A pool thread's task: runs to play in turn (one message for several spares the round trips). */
export function runInThreadTask(task: InThreadTask): InThreadAnswer[] {
  const stop = new Int32Array(task.stop);
  const drop = new Int32Array(task.drop);
  return task.runs.map((r, i) => {
    if (Atomics.load(drop, i) !== 0) return { dropped: true };
    try {
      const result = playInThread(r.spec, stop, r.budgetEnd);
      let fixReplay: FixReplay | undefined;
      try {
        // (a run dropped while it played: its caller will not ask for the replay)
        fixReplay = r.verify && Atomics.load(drop, i) === 0 ? playFixReplayAhead(r.spec, result, stop, r.budgetEnd) : undefined;
      } catch {
        // the run's result stands; the replay is played again when Engine.verifyKnown asks for it (and fails there, reported)
        fixReplay = undefined;
      }
      return fixReplay ? { result, fixReplay } : { result };
    } catch (e) {
      return { error: (e as Error).stack ?? String(e) };
    }
  });
}
