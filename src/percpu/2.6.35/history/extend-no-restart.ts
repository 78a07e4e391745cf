// pcpu_alloc before 833af8427be4 ("percpu: fix pcpu_alloc() locking"), part
// a: after dropping pcpu_lock to extend a chunk's area map, the slot walk
// carried on from that chunk instead of starting over, though a racing free
// may have moved it to another slot list meanwhile.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../../shm/config.ts';
import { needToExtend, sizeToSlot } from '../area-map.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

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
    for (;;) {
      for (let slot = sizeToSlot(st, size); slot < st.nrSlots; slot++) {
        const head = st.slotHead(slot);
        let guard = st.L.vmSlots * 2 + 8;
        for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
          if (--guard < 0) cpu.report('list-corruption', `BUG: list walk of pcpu_slot[${slot}] does not come back to its head`, 'the slot list is corrupted (a cycle that misses its head)');
          chunk = pos;
          p.checkChunk(cpu, chunk, 'pcpu_alloc', slot);
          if (size > st.contigHint(chunk)) continue;
          const newAlloc = needToExtend(st, chunk);
          if (newAlloc) {
            p.ops.unlockIndex(p, cpu, flags);
            if (p.ops.extendAreaMap(p, cpu, chunk, newAlloc) < 0) return p.fail(cpu, size, align, 'failed to extend area map');
            flags = p.ops.lockIndex(p, cpu);
            // the bug: pcpu_lock was dropped, yet the walk goes on from this chunk
            p.checkChunk(cpu, chunk, 'pcpu_alloc', slot);
          }
          off = p.areaAlloc(cpu, chunk, size, align);
          if (off >= 0) break search;
          p.known?.walkScanFailed(cpu, chunk, slot);
        }
      }
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

export const extendNoRestart: HistoricalBug<PcpuOps> = {
  name: 'extend-no-restart', commit: '833af8427be4', subject: 'percpu: fix pcpu_alloc() locking (part a)',
  summary: 'after dropping pcpu_lock to extend an area map, the slot walk goes on from a chunk a racing free may have moved',
  scenario: 'extend-walk', expect: ['list-corruption', 'invariant'],
  ops: { alloc: pcpuAlloc },
};
