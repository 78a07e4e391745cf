// Map extension for atomic allocations done by pcpu_balance_workfn, as
// 4f996e234dad ("percpu: fix synchronization between chunk->map_extend_work
// and chunk destruction", 4.7) has it. 4.1 gives every chunk a work item of
// its own, map_extend_work, and pcpu_balance_workfn destroys fully free
// chunks without cancelling it: a chunk freed with its work queued leaves
// the worker a freed work item. The fix puts a chunk that needs a longer map
// on pcpu_map_extend_chunks (under pcpu_lock) and kicks the balance work,
// which takes it off that list before it destroys it and extends the maps
// of the chunks still listed, with pcpu_alloc_mutex held. The chunk's
// map_extend_list lives in the record next to where 4.1 keeps its
// map_extend_work, which this kernel never initializes or queues.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { PCPU_LOCK } from '../../chunk.ts';
import { PCPU_ATOMIC_MAP_MARGIN_HIGH, PCPU_ATOMIC_MAP_MARGIN_LOW, mapLengthFor } from '../area-map.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

/** pcpu_need_to_extend: an atomic allocation short of entries lists the chunk and kicks the balance work. CONTEXT: pcpu_lock. */
function needToExtend(p: Percpu, cpu: Cpu, chunk: number, isAtomic: boolean): number {
  const st = p.st;
  st.assertLocks(cpu, PCPU_LOCK);
  let margin: number;
  if (isAtomic) {
    margin = 3;
    if (st.mapAlloc(chunk) < st.mapUsed(chunk) + PCPU_ATOMIC_MAP_MARGIN_LOW) {
      const node = st.mapExtendNode(chunk);
      if (st.extListEmpty(node)) {
        st.extListAddTail(node, st.mapExtendHead());
        p.scheduleBalanceWork(cpu);
      }
    }
  } else {
    margin = PCPU_ATOMIC_MAP_MARGIN_HIGH;
  }
  return mapLengthFor(st, chunk, margin);
}

/** pcpu_alloc_chunk's INIT_LIST_HEAD(&chunk->map_extend_list), in place of INIT_WORK. */
function initMapExtend(p: Percpu, chunk: number): void {
  p.st.initListHead(p.st.mapExtendNode(chunk));
}

/** pcpu_balance_workfn, moving a fully free chunk to its to_free list: off pcpu_map_extend_chunks first. CONTEXT: pcpu_lock. */
function mapExtendUnlink(p: Percpu, _cpu: Cpu, chunk: number): void {
  p.st.extListDelInit(p.st.mapExtendNode(chunk));
}

/** pcpu_balance_workfn, after destroying: extend the map of every chunk that asked. CONTEXT: pcpu_alloc_mutex. */
function mapExtendService(p: Percpu, cpu: Cpu): void {
  const st = p.st;
  for (;;) {
    let newAlloc = 0;
    cpu.spinLockIrq(Lock.pcpu_lock);
    const node = st.extListFirst(st.mapExtendHead());
    const chunk = node === 0 ? 0 : st.mapExtendChunk(node);
    if (chunk !== 0) {
      p.checkChunk(cpu, chunk, 'pcpu_balance_workfn');
      st.extListDelInit(node);
      newAlloc = p.ops.needToExtend(p, cpu, chunk, false);
      if (newAlloc) p.known?.extendDecided(cpu, chunk);
    }
    cpu.spinUnlockIrq(Lock.pcpu_lock);
    if (newAlloc) p.ops.extendAreaMap(p, cpu, chunk, newAlloc);
    if (chunk === 0) break;
  }
}

export const mapExtendByBalance: LaterFix<PcpuOps> = {
  name: 'map-extend-by-balance',
  commit: '4f996e234dad',
  subject: 'percpu: fix synchronization between chunk->map_extend_work and chunk destruction',
  summary: 'chunks short of map entries wait on pcpu_map_extend_chunks for pcpu_balance_workfn, which unlists a chunk before it destroys it; no chunk owns a work item',
  ops: { needToExtend, initMapExtend, mapExtendUnlink, mapExtendService },
  fixes: 'extend-work-freed',
};

