// pcpu_reclaim before 971f3918a5a8 ("percpu: fix pcpu_reclaim() locking"):
// pcpu_alloc_mutex was dropped as soon as the chunks were unlinked, so the
// depopulation ran unprotected and raced allocations populating other
// chunks on the one shared temp pages array and bitmap.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { reclaimDestroy, reclaimUnlink, type Percpu } from '../core.ts';
import type { PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function pcpuReclaim(p: Percpu, cpu: Cpu): number[] {
  cpu.enter(F.pcpu_reclaim);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  cpu.spinLockIrq(Lock.pcpu_lock);
  const todo = reclaimUnlink(p, cpu);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  const destroyed = reclaimDestroy(p, cpu, todo);
  p.spec?.reclaimEnd(cpu, destroyed);
  cpu.leave();
  return destroyed;
}

export const reclaimEarlyUnlock: HistoricalBug<PcpuOps> = {
  name: 'reclaim-early-unlock', commit: '971f3918a5a8', subject: 'percpu: fix pcpu_reclaim() locking',
  summary: 'pcpu_reclaim drops pcpu_alloc_mutex before depopulating, racing allocations on the shared temp pages array',
  scenario: 'reclaim-populate', expect: ['temp-buffer-race', 'page-double-free', 'use-after-free', 'lock-discipline', 'data-race'],
  ops: { reclaim: pcpuReclaim },
};
