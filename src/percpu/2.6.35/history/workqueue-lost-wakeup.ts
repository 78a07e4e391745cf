// process_one_work clearing the pending bit after the work function ran,
// not before (a classic): a schedule_work() made while the work runs finds
// the bit still set, queues nothing, and the request is lost.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { WK } from '../../../workqueue/records.ts';
import type { Workqueue } from '../../../workqueue/workqueue.ts';
import type { PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function processOneWork(wq: Workqueue, kworker: Cpu, work: number): boolean {
  if (!wq.pending(work)) return false;
  kworker.enter(F.process_one_work);
  wq.begin(work);
  wq.setWord(work, WK.RUNNING, 1);
  wq.started(kworker, work);
  wq.end(work);
  const cls = wq.workClass(work);
  kworker.lockMapAcquire(Lock.wq_events);
  kworker.lockMapAcquire(cls);
  try {
    wq.execute(kworker, work);
  } finally {
    kworker.lockMapRelease(cls);
    kworker.lockMapRelease(Lock.wq_events);
    // the bug: the pending bit is cleared only now
    wq.begin(work);
    wq.setWord(work, WK.PENDING, 0);
    wq.end(work);
    wq.finished(kworker, work);
    kworker.leave();
  }
  return true;
}

export const workqueueLostWakeup: HistoricalBug<PcpuOps> = {
  name: 'workqueue-lost-wakeup', commit: '', subject: 'classic: the pending bit cleared after the work ran',
  summary: 'the work pending bit is cleared after the work function ran, so a reclaim request made meanwhile is lost',
  scenario: 'reclaim-requeue', expect: ['leak'],
  ops: { processOneWork },
};
