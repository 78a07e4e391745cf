// pcpu_reclaim taking the locks the wrong way round (a classic): pcpu_lock,
// then pcpu_alloc_mutex, the reverse of the allocation path, and sleeping on
// the mutex with a spinlock held.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { reclaimDestroy, reclaimUnlink, type Percpu } from '../core.ts';
import type { PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function pcpuReclaim(p: Percpu, cpu: Cpu): number[] {
  cpu.enter(F.pcpu_reclaim);
  cpu.spinLockIrq(Lock.pcpu_lock);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  const todo = reclaimUnlink(p, cpu);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  const destroyed = reclaimDestroy(p, cpu, todo);
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  p.spec?.reclaimEnd(cpu, destroyed);
  cpu.leave();
  return destroyed;
}

export const reclaimLockInversion: HistoricalBug<PcpuOps> = {
  name: 'reclaim-lock-inversion', commit: '', subject: 'classic: pcpu_lock before pcpu_alloc_mutex',
  summary: 'pcpu_reclaim takes pcpu_lock before pcpu_alloc_mutex, the reverse of the allocation path',
  scenario: 'reclaim-race', expect: ['lockdep-circular', 'deadlock'],
  ops: { reclaim: pcpuReclaim },
};
