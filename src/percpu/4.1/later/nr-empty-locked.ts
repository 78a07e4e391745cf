// pcpu_alloc's update of pcpu_nr_empty_pop_pages under pcpu_lock, as
// 320661b08dd6 ("percpu: acquire pcpu_lock when updating
// pcpu_nr_empty_pop_pages", 4.11) has it. 4.1 subtracts the pages the new
// area occupies after it dropped every lock, racing the updates free_percpu
// and pcpu_chunk_[de]populated make under pcpu_lock: an update is lost and
// the count drifts from the pages it counts.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function emptyPopUpdate(p: Percpu, cpu: Cpu, chunk: number, occPages: number): void {
  const st = p.st;
  if (chunk === st.reservedChunk) return;
  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  st.setNrEmptyPopPages(st.nrEmptyPopPages() - occPages);
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
}

export const nrEmptyLocked: LaterFix<PcpuOps> = {
  name: 'nr-empty-locked',
  commit: '320661b08dd6',
  subject: 'percpu: acquire pcpu_lock when updating pcpu_nr_empty_pop_pages',
  summary: 'pcpu_alloc subtracts the pages the new area occupies from pcpu_nr_empty_pop_pages under pcpu_lock',
  ops: { emptyPopUpdate },
  fixes: 'empty-pop-unlocked',
};
