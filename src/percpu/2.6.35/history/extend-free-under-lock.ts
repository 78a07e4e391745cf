// pcpu_extend_area_map before 833af8427be4 ("percpu: fix pcpu_alloc()
// locking"), part b: the old map was freed with pcpu_lock still held, and
// freeing a large map is vfree(), which takes the irq-unsafe
// vmap_area_lock inside the irq-safe pcpu_lock.

import type { Cpu } from '../../../sync/cpu.ts';
import { F } from '../../../sync/sites.ts';
import { Tag } from '../../../mm/heap.ts';
import { MUTEX, PCPU_LOCK } from '../../chunk.ts';
import { PCPU_DFL_MAP_ALLOC } from '../area-map.ts';
import { memAlloc, memFree } from '../../mem.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function extendAreaMap(p: Percpu, cpu: Cpu, chunk: number, newAlloc: number): number {
  const st = p.st;
  cpu.enter(F.pcpu_extend_area_map);
  st.assertLocks(cpu, MUTEX, PCPU_LOCK);
  const newSize = newAlloc * 4;
  let neu = memAlloc(cpu, st, newSize, Tag.MAP);
  if (neu === 0) {
    cpu.leave();
    return -12;
  }
  const flags = p.ops.lockIndex(p, cpu);
  p.checkChunk(cpu, chunk, 'pcpu_extend_area_map');
  let old = 0;
  let oldSize = 0;
  const oldAlloc = st.mapAlloc(chunk);
  if (newAlloc > oldAlloc) {
    oldSize = oldAlloc * 4;
    const m = st.map(chunk);
    st.copyEntriesOut(chunk, m, neu, oldAlloc);
    if (oldAlloc >= PCPU_DFL_MAP_ALLOC) old = m;
    st.setMap(chunk, neu, newAlloc);
    neu = 0;
  }
  // the bug: the frees come before pcpu_lock is dropped
  memFree(cpu, st, old, oldSize);
  memFree(cpu, st, neu, newSize);
  p.ops.unlockIndex(p, cpu, flags);
  cpu.leave();
  return 0;
}

export const extendFreeUnderLock: HistoricalBug<PcpuOps> = {
  name: 'extend-free-under-lock', commit: '833af8427be4', subject: 'percpu: fix pcpu_alloc() locking (part b)',
  summary: 'pcpu_extend_area_map frees the old map (vfree takes the irq-unsafe vmap_area_lock) with pcpu_lock held',
  scenario: 'map-extend-race', expect: ['lockdep-irq-unsafe-order', 'lockdep-irq-inversion'],
  ops: { extendAreaMap },
};
