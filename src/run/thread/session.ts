// A pool thread's long-lived task: it plays one entity (thread i plays CPU i,
// the thread after the last CPU plays the kworker) in run after run, without
// a piscina round trip per run. The main thread starts a run by writing its
// descriptor into the control block and bumping CT.GEN; the thread plays its
// part, writes its counters into its result record, posts its violations and
// kernel log (only when there are any) on its port, and bumps CT.DONE.
// Machines (a spec and its shared memory) and the program buffer arrive once
// on the port and stay attached for the whole session.

import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { CMD_EXIT, CT, CT_PROG, CT_RES, CT_SIZES, CTF_CHECKS, CTF_PROGRAMS, CTF_TIMING, RS } from '../control.ts';
import type { Mode } from '../../sched/strategy.ts';
import { scenarioById } from '../../../scenarios/index.ts';
import { Kernel } from '../machine.ts';
import type { RunReport, SessionMessage, SessionTask } from '../messages.ts';
import { attachedView, playEntity, type Attached, type CpuPart, type PartResult } from './entity.ts';

const IDLE_WAIT_MS = 1000;

export function runSession(task: SessionTask): number {
  const ctl = new Int32Array(task.ctl);
  const me = task.thread;
  const machines = new Map<number, Attached>();
  let programs: Int32Array | null = null;
  const res: PartResult = { reclaimRuns: 0, activeMs: 0 };
  const part: CpuPart = { cpu: me, scenario: null!, seed: 0, ops: 0, durationMs: 0, program: null, checks: true, setupOps: 0 };
  let seen = 0;
  let runs = 0;
  for (;;) {
    for (let g = Atomics.load(ctl, CT.GEN); g === seen; g = Atomics.load(ctl, CT.GEN)) Atomics.wait(ctl, CT.GEN, g, IDLE_WAIT_MS);
    seen = Atomics.load(ctl, CT.GEN);
    for (let m = receiveMessageOnPort(task.port); m; m = receiveMessageOnPort(task.port)) {
      const msg = m.message as SessionMessage;
      if (msg.type === 'machine') {
        machines.set(msg.id, attachedView(new Kernel(msg.spec, msg.sab)));
      } else if (msg.type === 'forget') {
        machines.delete(msg.id);
        // a thread that allocates nothing rarely collects: the forgotten machine's objects (and its
        // hold on the shared buffer) go now, not when the heap happens to fill (gc is there when the
        // pool exposed it, see run/main/pool.ts)
        (globalThis as { gc?: () => void }).gc?.();
      } else {
        programs = new Int32Array(msg.sab);
      }
    }
    if (ctl[CT.CMD] === CMD_EXIT) {
      Atomics.add(ctl, CT.DONE, 1);
      Atomics.notify(ctl, CT.DONE);
      return runs;
    }
    const r = CT_RES + me * RS.SIZE;
    for (let i = 0; i < RS.SIZE; i++) ctl[r + i] = 0;
    if (me < ctl[CT.ENTITIES]!) {
      runs++;
      playPart(ctl, me, machines.get(ctl[CT.MACHINE]!)!, programs, part, res, seen, task.port);
    }
    Atomics.add(ctl, CT.DONE, 1);
    Atomics.notify(ctl, CT.DONE);
  }
}

function playPart(ctl: Int32Array, me: number, m: Attached, programs: Int32Array | null, part: CpuPart, res: PartResult, gen: number, port: MessagePort): void {
  const flags = ctl[CT.FLAGS]!;
  part.scenario = scenarioById(ctl[CT.SCENARIO]!);
  part.seed = ctl[CT.SEED]! >>> 0;
  part.ops = ctl[CT.OPS]!;
  part.durationMs = ctl[CT.DURATION_MS]!;
  part.setupOps = ctl[CT.SETUP_OPS]!;
  part.checks = (flags & CTF_CHECKS) !== 0;
  part.program = null;
  const nSizes = ctl[CT.SIZES_LEN]!;
  part.sizes = nSizes ? ctl.slice(CT_SIZES, CT_SIZES + nSizes) : undefined;
  if (flags & CTF_PROGRAMS && programs) {
    const off = ctl[CT_PROG + me * 2]!, len = ctl[CT_PROG + me * 2 + 1]!;
    part.program = programs.subarray(off, off + len);
  }
  const end = playEntity(m, me, ctl[CT.MODE]! as Mode, (flags & CTF_TIMING) !== 0, part, res);
  const k = m.k;
  const r = CT_RES + me * RS.SIZE;
  const runner = end.runner;
  if (runner) {
    const c = runner.counters;
    ctl[r + RS.OPS] = c.ops;
    ctl[r + RS.ALLOC] = c.alloc;
    ctl[r + RS.FREE] = c.free;
    ctl[r + RS.IRQFREE] = c.irqfree;
    ctl[r + RS.IRQS_HANDLED] = c.irqsHandled;
    ctl[r + RS.FAILED] = c.failed;
    ctl[r + RS.TOUCHES] = c.touches;
    ctl[r + RS.CHECKS] = c.checks;
  }
  ctl[r + RS.OOPS] = end.oops ? 1 : 0;
  ctl[r + RS.STOPPED] = end.stopped ? 1 : 0;
  ctl[r + RS.RECLAIM_RUNS] = res.reclaimRuns;
  ctl[r + RS.ACTIVE_MS] = res.activeMs;
  if (k.violations.length || k.log.length) {
    const report: RunReport = { gen, thread: me, violations: k.violations.slice(), log: k.log.slice() };
    port.postMessage(report);
    ctl[r + RS.MESSAGES] = 1;
  }
}
