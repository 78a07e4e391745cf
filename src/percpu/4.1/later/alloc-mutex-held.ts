// pcpu_alloc holding pcpu_alloc_mutex for the whole of a GFP_KERNEL
// allocation, as 6710e594f71c ("percpu: fix synchronization between
// synchronous map extension and chunk destruction", 4.7) has it. 4.1 takes
// the mutex only to create a chunk and to populate one, so the synchronous
// map extension (pcpu_extend_area_map, pcpu_lock dropped) holds no lock that
// keeps pcpu_balance_workfn from destroying the chunk it extends.
//
// The commit also asserts the mutex in pcpu_extend_area_map; that presumes
// 4f996e234dad (map extension moved into the balance work, which holds the
// mutex: fix map-extend-by-balance), applied before it upstream. Booted
// alone, this fix keeps 4.1's pcpu_map_extend_workfn, which extends without
// the mutex, so the assertion is not part of it here.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { AllocMutexAt, type Percpu, type PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

/** The mutex is taken once, at the top of a non-atomic call, and dropped after population or on the way out of a failure. */
function allocMutex(_p: Percpu, cpu: Cpu, at: AllocMutexAt, isAtomic: boolean, lock: boolean): void {
  if (isAtomic) return;
  if (at === AllocMutexAt.CALL) {
    if (lock) cpu.mutexLock(Lock.pcpu_alloc_mutex);
    else cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  } else if (at === AllocMutexAt.POPULATE && !lock) {
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  }
}

export const allocMutexHeld: LaterFix<PcpuOps> = {
  name: 'alloc-mutex-held',
  commit: '6710e594f71c',
  subject: 'percpu: fix synchronization between synchronous map extension and chunk destruction',
  summary: 'a GFP_KERNEL pcpu_alloc holds pcpu_alloc_mutex from its start to its end, so a chunk it extends cannot be destroyed under it',
  ops: { allocMutex },
  fixes: 'extend-vs-destroy',
};
