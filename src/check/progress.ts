// Progress judged on the kernel's own work: every run of a work item must
// do the job it was requested for, and the harness never does it for the
// kernel. A request is served only by a run that a checker saw do the job
// (for pcpu_reclaim_work: the specification's reclaim-set check, which
// looks at the last slot list under both locks and compares what the run
// destroys with what 2.6.35 destroys; for 4.1's pcpu_balance_work, its own
// check). A run that ends without that -- it returned before looking, on a
// failed trylock or anything else -- is reported at its end, with what it
// left on the last slot list; and the leak check at quiescence counts the
// requests no judged run served (WK.JUDGED_SEQ), so a later run caused by
// the harness's own end-of-run frees cannot make up for a run that did
// nothing. Generation-agnostic: the workqueue calls runStarted/runEnded from
// whatever process_one_work was booted; a specification calls judged() from
// inside the run. Only the work functions a kernel's specification judges are
// held to it (2.6.35: pcpu_reclaim); 4.1's work items are judged by their
// outcome at quiescence instead (src/check/4.1/leak.ts: requests never
// followed by a run, fully free chunks beyond one after the balance work).

import type { Cpu } from '../sync/cpu.ts';
import type { Shm } from '../shm/layout.ts';
import { WK } from '../workqueue/records.ts';
import type { Workqueue, WorkRunHooks } from '../workqueue/workqueue.ts';
import { RUN } from '../run/records.ts';
import { C, PC } from '../percpu/records.ts';

export class WorkProgress implements WorkRunHooks {
  /** The item the worker of this thread is running (one worker: one at a time), 0 between runs. */
  private current = 0;
  /** ... and whether a specification saw that run do its job. */
  private judgedRun = false;

  /** `judgedFns`: the work functions (WorkFn numbers) a specification judges; `name` names a work item for reports. */
  constructor(private readonly shm: Shm, private readonly wq: Workqueue, private readonly judgedFns: ReadonlySet<number>, private readonly name: (work: number) => string) {}

  runStarted(_kworker: Cpu, work: number): void {
    this.current = work;
    this.judgedRun = false;
  }

  /** A specification saw the run in progress do the work's job. */
  judged(): void {
    if (this.current === 0) return;
    this.judgedRun = true;
    this.wq.judged(this.current);
  }

  runEnded(kworker: Cpu, work: number): void {
    const judged = this.judgedRun;
    this.current = 0;
    this.judgedRun = false;
    const fn = Atomics.load(this.shm.w, work + WK.FUNC);
    if (!this.judgedFns.has(fn)) return;
    // a run cut by a fatal report or a stop never finished its job: nothing to judge
    if (judged || Atomics.load(this.shm.w, this.shm.L.run + RUN.STOP) !== 0) return;
    const name = this.name(work);
    kworker.report('spec', `percpu: ${name} ran and did not do its job: the allocator departs from 2.6.35`,
      `a run of ${name} returned without reclaiming: it never looked at the last slot list under pcpu_lock, so the requests it was run for ` +
      `(${this.wq.unjudged(work)} schedule_work call(s) since the last run that did its job) are not served; ${this.leftText()}\n` +
      '2.6.35\'s pcpu_reclaim always takes pcpu_alloc_mutex and pcpu_lock and frees every fully free chunk but the first on the last slot list; ' +
      'the kernel has no later flush to make up for a run that did nothing\n',
      false, { check: 'work-progress', work: name, function: name });
  }

  /** The fully free chunks on the last slot list now, read raw (for the report only). */
  private leftText(): string {
    const w = this.shm.w, L = this.shm.L;
    const last = w[L.pc + PC.NR_SLOTS]! - 1;
    const head = L.slots + last * 2;
    const seqs: number[] = [];
    for (let p = w[head]!, n = 0; p !== head && n < 64; p = w[p]!, n++) seqs.push(w[p + C.SEQ]!);
    return seqs.length > 1 ? `pcpu_slot[${last}] holds ${seqs.length} fully free chunks (${seqs.map((s) => `#${s}`).join(', ')}), 2.6.35 leaves one`
      : `pcpu_slot[${last}] holds ${seqs.length} chunk${seqs.length === 1 ? '' : 's'}`;
  }
}
