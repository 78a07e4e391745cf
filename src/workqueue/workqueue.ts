// The events workqueue with its one worker (kworker/0:1), reduced to what
// percpu needs: work items with a pending bit. schedule_work test-and-sets
// the bit and wakes the worker; it never sleeps, so it is fine under
// pcpu_lock and in hardirq context. The worker clears the bit BEFORE it runs
// the function, so a request made while the work runs queues it again.
// While a work function runs, the worker holds the lockdep maps of the
// workqueue and of the work item, as the kernel does; flush_work takes the
// item's map too, which is how lockdep sees flush-under-lock deadlocks.
//
// The work item's words are bits the kernel sets and clears atomically
// (test_and_set_bit, clear_bit): they are read and written with Atomics
// here, and are not among the fields the lock rules cover.

import type { Shm } from '../shm/layout.ts';
import { WK, WQ } from './records.ts';
import { X } from '../sync/records.ts';
import type { Cpu } from '../sync/cpu.ts';
import { Lock } from '../sync/locks.ts';
import { F } from '../sync/sites.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

export const WORK_RECLAIM = 0;

export type ProcessOneWork = (wq: Workqueue, kworker: Cpu, work: number, fn: (cpu: Cpu) => void) => boolean;

/**
 * A checker of progress (src/check/progress.ts): told when each run of a work
 * item starts and ends, on the worker, inside the run. Whatever
 * process_one_work a machine booted calls these through started() and
 * finished().
 */
export interface WorkRunHooks {
  runStarted(kworker: Cpu, work: number): void;
  runEnded(kworker: Cpu, work: number): void;
}

export class Workqueue {
  private readonly w: Int32Array;
  private readonly works: number;
  private readonly wq: number;
  /** process_one_work as this machine booted it (PcpuOps, src/percpu/core.ts). */
  processOneWork: ProcessOneWork = processOneWork;
  /** The progress checker (checks on), or null. */
  progress: WorkRunHooks | null = null;

  constructor(shm: Shm) {
    this.w = shm.w;
    this.works = shm.L.works;
    this.wq = shm.L.wq;
  }

  private at(work: number, field: WK): number {
    return this.works + work * WK.SIZE + field;
  }

  pending(work: number): boolean {
    return Atomics.load(this.w, this.at(work, WK.PENDING)) !== 0;
  }
  running(work: number): boolean {
    return Atomics.load(this.w, this.at(work, WK.RUNNING)) !== 0;
  }
  runs(work: number): number {
    return this.w[this.at(work, WK.RUNS)]!;
  }
  lost(work: number): number {
    return this.w[this.at(work, WK.LOST)]!;
  }
  /** schedule_work calls not followed by the start of a run (a lost request if the work is idle). */
  unserved(work: number): number {
    return this.w[this.at(work, WK.SCHED_SEQ)]! - this.w[this.at(work, WK.START_SEQ)]!;
  }
  /** schedule_work calls not followed by a run a checker saw do the work's job (checks on: see WK.JUDGED_SEQ). */
  unjudged(work: number): number {
    return this.w[this.at(work, WK.SCHED_SEQ)]! - this.w[this.at(work, WK.JUDGED_SEQ)]!;
  }
  /** The run in progress did the work's job: the requests it serves are served for real. */
  judged(work: number): void {
    Atomics.store(this.w, this.at(work, WK.JUDGED_SEQ), Atomics.load(this.w, this.at(work, WK.START_SEQ)));
  }
  /** The object that embeds the work item (0: a global item). */
  owner(work: number): number {
    return Atomics.load(this.w, this.at(work, WK.OWNER));
  }
  /** Set one of the work item's bits (process_one_work's own updates). */
  setWord(work: number, field: WK, v: number): void {
    Atomics.store(this.w, this.at(work, field), v);
  }
  /**
   * A run starts (the worker holds the item's word, see begin()): every
   * request made before this point is served by it.
   */
  started(kworker: Cpu, work: number): void {
    Atomics.store(this.w, this.at(work, WK.START_SEQ), Atomics.load(this.w, this.at(work, WK.SCHED_SEQ)));
    kworker.host.race?.workStarted(kworker, work);
    this.progress?.runStarted(kworker, work);
  }
  /** The item's word is held: its bits and the clock of its requests change together. */
  begin(work: number): void {
    rawLock(this.w, this.at(work, WK.LOCK));
  }
  end(work: number): void {
    rawUnlock(this.w, this.at(work, WK.LOCK));
  }
  /** A run ended: count it and wake whoever flushes. */
  finished(kworker: Cpu, work: number): void {
    this.progress?.runEnded(kworker, work);
    kworker.host.race?.workEnded(kworker, work);
    Atomics.add(this.w, this.at(work, WK.RUNS), 1);
    Atomics.store(this.w, this.at(work, WK.RUNNING), 0);
    Atomics.add(this.w, this.wq + WQ.DONE_SEQ, 1);
    Atomics.notify(this.w, this.wq + WQ.DONE_SEQ);
  }

  /** schedule_work: returns true when this call queued the work. */
  scheduleWork(cpu: Cpu, work: number): boolean {
    cpu.enter(F.schedule_work);
    cpu.w[cpu.x + X.WORK_REQS]!++;
    this.begin(work);
    Atomics.add(this.w, this.at(work, WK.SCHED_SEQ), 1);
    const queued = Atomics.compareExchange(this.w, this.at(work, WK.PENDING), 0, 1) === 0;
    const running = this.running(work);
    // the request's clock goes to the next run to start (test_and_set_bit is a full barrier, failed or not)
    cpu.host.race?.workRequested(cpu, work);
    this.end(work);
    if (queued) {
      Atomics.add(this.w, this.at(work, WK.QUEUED), 1);
      Atomics.add(this.w, this.wq + WQ.WAKE, 1);
      Atomics.notify(this.w, this.wq + WQ.WAKE, 1);
    } else if (running) {
      // pending and already running: no run is left to serve this request
      Atomics.add(this.w, this.at(work, WK.LOST), 1);
    }
    cpu.leave();
    return queued;
  }

  /** Run `fn` on the worker's context if the work is pending. Returns whether it ran. */
  runIfPending(kworker: Cpu, work: number, fn: (cpu: Cpu) => void): boolean {
    return this.processOneWork(this, kworker, work, fn);
  }

  /** The worker's wake word: wait on it while no work is pending. */
  wakeWord(): number {
    return this.wq + WQ.WAKE;
  }
  doneWord(): number {
    return this.wq + WQ.DONE_SEQ;
  }

  /**
   * flush_work from a CPU (process context, may sleep): wait until the work
   * is neither pending nor running. `waitOnce` sleeps until the worker
   * reports progress (it differs between threads and controlled mode).
   */
  flushWork(cpu: Cpu, work: number, waitOnce: () => void): void {
    cpu.enter(F.flush_work);
    cpu.mightSleep();
    cpu.lockMapAcquire(Lock.pcpu_reclaim_work);
    cpu.lockMapRelease(Lock.pcpu_reclaim_work);
    while (this.pending(work) || this.running(work)) waitOnce();
    cpu.host.race?.workFlushed(cpu, work);
    cpu.leave();
  }
}

/** process_one_work: clear the pending bit, then run the function. */
export function processOneWork(wq: Workqueue, kworker: Cpu, work: number, fn: (cpu: Cpu) => void): boolean {
  if (!wq.pending(work)) return false;
  kworker.enter(F.process_one_work);
  wq.begin(work);
  wq.setWord(work, WK.RUNNING, 1);
  wq.setWord(work, WK.PENDING, 0);
  wq.started(kworker, work);
  wq.end(work);
  kworker.lockMapAcquire(Lock.wq_events);
  kworker.lockMapAcquire(Lock.pcpu_reclaim_work);
  try {
    fn(kworker);
  } finally {
    kworker.lockMapRelease(Lock.pcpu_reclaim_work);
    kworker.lockMapRelease(Lock.wq_events);
    wq.finished(kworker, work);
    kworker.leave();
  }
  return true;
}
