// pcpu_alloc with a slot walk that does not escape its list: the walk
// remembers the next chunk before pcpu_alloc_area, which can move the chunk
// it scans to slot 0 (contig_hint under 4 after a failed scan of 1-3-byte
// holes) and so to another list. No upstream commit fixes this in the area
// map allocator (the bitmap allocator of 4.14 replaced it); this is the
// fix the walk escape needs, to prove the known issue is what it says.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../../shm/config.ts';
import { needToExtend, sizeToSlot } from '../area-map.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function pcpuAlloc(p: Percpu, cpu: Cpu, size: number, align: number, reserved: boolean): number {
  const st = p.st;
  if (!size || size > PCPU_MIN_UNIT_SIZE || align > st.pageSize) {
    p.lastError = `illegal size (${size}) or align (${align}) for percpu allocation`;
    cpu.host.printk(cpu, `WARNING: at mm/percpu.c:pcpu_alloc()\n${p.lastError}`);
    return 0;
  }
  cpu.enter(F.pcpu_alloc);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  let flags = p.ops.lockIndex(p, cpu);
  let chunk = 0;
  let off = -1;
  let err = '';

  search: if (reserved && st.reservedChunk !== 0) {
    // reserved allocations come only from the reserved chunk
    chunk = st.reservedChunk;
    if (size > st.contigHint(chunk)) {
      err = 'alloc from reserved chunk failed';
      break search;
    }
    for (let newAlloc = needToExtend(st, chunk); newAlloc; newAlloc = needToExtend(st, chunk)) {
      p.ops.unlockIndex(p, cpu, flags);
      if (p.ops.extendAreaMap(p, cpu, chunk, newAlloc) < 0) return p.fail(cpu, size, align, 'failed to extend area map of reserved chunk');
      flags = p.ops.lockIndex(p, cpu);
    }
    off = p.areaAlloc(cpu, chunk, size, align);
    if (off < 0) err = 'alloc from reserved chunk failed';
  } else {
    restart: for (;;) {
      for (let slot = sizeToSlot(st, size); slot < st.nrSlots; slot++) {
        const head = st.slotHead(slot);
        let guard = st.L.vmSlots * 2 + 8;
        // the fix: the next chunk is taken before the scan, which may move this one (list_for_each_entry_safe)
        for (let pos = st.next(head), n = st.next(pos); pos !== head; pos = n, n = st.next(pos)) {
          if (--guard < 0) cpu.report('list-corruption', `BUG: list walk of pcpu_slot[${slot}] does not come back to its head`, 'the slot list is corrupted (a cycle that misses its head)');
          chunk = pos;
          p.checkChunk(cpu, chunk, 'pcpu_alloc', slot);
          if (size > st.contigHint(chunk)) continue;
          const newAlloc = needToExtend(st, chunk);
          if (newAlloc) {
            p.ops.unlockIndex(p, cpu, flags);
            if (p.ops.extendAreaMap(p, cpu, chunk, newAlloc) < 0) return p.fail(cpu, size, align, 'failed to extend area map');
            flags = p.ops.lockIndex(p, cpu);
            // pcpu_lock was dropped: the walk must start over
            continue restart;
          }
          off = p.areaAlloc(cpu, chunk, size, align);
          if (off >= 0) break search;
          p.known?.walkScanFailed(cpu, chunk, slot);
        }
      }
      // no space left anywhere: make a new chunk, with only the mutex held
      p.spec?.noChunkFits(cpu, size, align);
      p.ops.unlockIndex(p, cpu, flags);
      chunk = p.backend.create(cpu);
      if (chunk === 0) return p.fail(cpu, size, align, 'failed to allocate new chunk');
      flags = p.ops.lockIndex(p, cpu);
      p.linkNewChunk(cpu, chunk);
    }
  }
  if (off < 0) {
    p.ops.unlockIndex(p, cpu, flags);
    return p.fail(cpu, size, align, err);
  }
  p.statsAlloc(size);
  p.indexCheck?.(cpu, chunk);
  p.ops.unlockIndex(p, cpu, flags);
  p.known?.walkDone(cpu);

  // populate, map and clear with only the mutex held
  p.checkChunk(cpu, chunk, 'pcpu_populate_chunk');
  if (p.backend.populate(cpu, chunk, off, size)) {
    flags = p.ops.lockIndex(p, cpu);
    p.areaFree(cpu, chunk, off);
    p.statsFree();
    p.ops.unlockIndex(p, cpu, flags);
    return p.fail(cpu, size, align, 'failed to populate');
  }
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  cpu.leave();
  p.lastError = '';
  return st.baseAddr(chunk) + off;
}

export const walkSafe: LaterFix<PcpuOps> = {
  name: 'walk-safe', commit: '', subject: 'pcpu_alloc walks each slot list with list_for_each_entry_safe',
  summary: 'the slot walk takes the next chunk before scanning this one', fixes: 'walk-escape',
  ops: { alloc: pcpuAlloc },
};
