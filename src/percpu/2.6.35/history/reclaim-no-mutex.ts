// pcpu_reclaim without pcpu_alloc_mutex, as the comment above the mutex
// warns against (a classic rather than one commit): the chunks are unlinked
// and destroyed under pcpu_lock alone, while an allocation may be using one
// of them with only the mutex held (extending its map, populating it).

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { reclaimDestroy, reclaimUnlink, type Percpu } from '../core.ts';
import type { PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function pcpuReclaim(p: Percpu, cpu: Cpu): number[] {
  cpu.enter(F.pcpu_reclaim);
  cpu.spinLockIrq(Lock.pcpu_lock);
  const todo = reclaimUnlink(p, cpu);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  const destroyed = reclaimDestroy(p, cpu, todo);
  p.spec?.reclaimEnd(cpu, destroyed);
  cpu.leave();
  return destroyed;
}

export const reclaimNoMutex: HistoricalBug<PcpuOps> = {
  name: 'reclaim-no-mutex', commit: '', subject: 'the comment above pcpu_alloc_mutex',
  summary: 'pcpu_reclaim unlinks and destroys chunks under pcpu_lock alone while an allocation still uses one with only the mutex',
  scenario: 'reclaim-extend', expect: ['use-after-free', 'lock-discipline', 'data-race'],
  ops: { reclaim: pcpuReclaim },
};
