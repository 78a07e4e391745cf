// pcpu_alloc's walk of a slot list that does not escape it: the next chunk
// is read before the current one is scanned (list_for_each_entry_safe), as
// the walk of 4.14's pcpu_alloc reads it (the bitmap allocator, 40064aeca35c,
// which moves a chunk that fails a scan to slot 0 itself). 4.1 reads the next
// chunk after pcpu_alloc_area, which relocates the chunk it scanned: a
// failed scan of 1-3-byte holes leaves contig_hint under 4, pcpu_chunk_slot
// puts the chunk on slot 0's list, and the walk goes on along slot 0's list
// and takes its head for a chunk. No 4.1-4.13 kernel changed this walk.

import type { Cpu } from '../../../sync/cpu.ts';
import { walkList, type Percpu, type PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function walkSlot(p: Percpu, cpu: Cpu, slot: number, size: number, align: number, isAtomic: boolean): number {
  return walkList(p, cpu, slot, size, align, isAtomic, true);
}

export const walkSafe: LaterFix<PcpuOps> = {
  name: 'walk-safe',
  commit: '',
  subject: 'the slot walk of 4.14\'s pcpu_alloc (list_for_each_entry_safe)',
  summary: 'pcpu_alloc reads the next chunk of a slot list before pcpu_alloc_area can move the current one to another list',
  ops: { walkSlot },
  fixes: 'walk-escape',
};
