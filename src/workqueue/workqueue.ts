// The events workqueue with its one worker (kworker/0:1), reduced to what
// percpu needs: work items with a pending bit. schedule_work test-and-sets
// the bit and wakes the worker; it never sleeps, so it is fine under
// pcpu_lock and in hardirq context. The worker clears the bit BEFORE it runs
// the function, so a request made while the work runs queues it again.
// While a work function runs, the worker holds the lockdep maps of the
// workqueue and of the work item, as the kernel does; flush_work takes the
// item's map too, which is how lockdep sees flush-under-lock deadlocks.

import { WK, WQ, X, type Shm } from '../shm/layout.ts';
import type { Cpu } from '../sync/cpu.ts';
import { Lock } from '../sync/locks.ts';
import { F } from '../sync/sites.ts';
import { Bug } from '../percpu/inject.ts';

export const WORK_RECLAIM = 0;

export class Workqueue {
  private readonly w: Int32Array;
  private readonly works: number;
  private readonly wq: number;

  constructor(shm: Shm, private readonly inject: () => Bug) {
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
  /** schedule_work calls not followed by the start of a run (a lost request if the work is idle). */
  unserved(work: number): number {
    return this.w[this.at(work, WK.SCHED_SEQ)]! - this.w[this.at(work, WK.START_SEQ)]!;
  }

  /** schedule_work: returns true when this call queued the work. */
  scheduleWork(cpu: Cpu, work: number): boolean {
    cpu.enter(F.schedule_work);
    cpu.w[cpu.x + X.WORK_REQS]!++;
    const race = cpu.host.race;
    if (race !== null) race.releaseJoin(cpu, race.workObj(work));
    Atomics.add(this.w, this.at(work, WK.SCHED_SEQ), 1);
    const queued = Atomics.compareExchange(this.w, this.at(work, WK.PENDING), 0, 1) === 0;
    if (queued) {
      Atomics.add(this.w, this.at(work, WK.QUEUED), 1);
      Atomics.add(this.w, this.wq + WQ.WAKE, 1);
      Atomics.notify(this.w, this.wq + WQ.WAKE, 1);
    } else if (this.running(work) && this.inject() === Bug.workqueue_lost_wakeup) {
      Atomics.add(this.w, this.at(work, WK.LOST), 1);
    }
    cpu.leave();
    return queued;
  }

  /**
   * process_one_work on the worker's context: run `fn` if the work is
   * pending. Returns whether it ran.
   */
  runIfPending(kworker: Cpu, work: number, fn: (cpu: Cpu) => void): boolean {
    const pendingAt = this.at(work, WK.PENDING);
    if (Atomics.load(this.w, pendingAt) === 0) return false;
    const lost = this.inject() === Bug.workqueue_lost_wakeup;
    kworker.enter(F.process_one_work);
    Atomics.store(this.w, this.at(work, WK.RUNNING), 1);
    if (!lost) Atomics.store(this.w, pendingAt, 0); // clear pending, then run
    // every request made before this point is served by this run
    Atomics.store(this.w, this.at(work, WK.START_SEQ), Atomics.load(this.w, this.at(work, WK.SCHED_SEQ)));
    const race = kworker.host.race;
    if (race !== null) race.acquire(kworker, race.workObj(work));
    kworker.lockMapAcquire(Lock.wq_events);
    kworker.lockMapAcquire(Lock.pcpu_reclaim_work);
    try {
      fn(kworker);
    } finally {
      kworker.lockMapRelease(Lock.pcpu_reclaim_work);
      kworker.lockMapRelease(Lock.wq_events);
      if (lost) Atomics.store(this.w, pendingAt, 0); // the bug: cleared after the run
      Atomics.store(this.w, this.at(work, WK.RUNNING), 0);
      Atomics.add(this.w, this.at(work, WK.RUNS), 1);
      Atomics.add(this.w, this.wq + WQ.DONE_SEQ, 1);
      Atomics.notify(this.w, this.wq + WQ.DONE_SEQ);
      kworker.leave();
    }
    return true;
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
    cpu.leave();
  }
}
