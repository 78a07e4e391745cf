// free_percpu before ccea34b5d0fb ("percpu: finer grained locking to break
// deadlock and allow atomic free"): one mutex serialized allocation and
// free, so free_percpu slept and could not be called from atomic context.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import { F } from '../../../sync/sites.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function freePercpu(p: Percpu, cpu: Cpu, ptr: number): void {
  const st = p.st;
  cpu.enter(F.free_percpu);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  const chunk = p.chunkAddrSearch(cpu, ptr);
  p.checkChunk(cpu, chunk, 'free_percpu');
  p.spec?.freeBegin(cpu);
  p.areaFree(cpu, chunk, ptr - st.baseAddr(chunk));
  p.statsFree();
  if (st.freeSize(chunk) === st.unitSize) {
    const head = st.slotHead(st.nrSlots - 1);
    for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
      if (pos !== chunk) {
        p.lastFreeScheduled = true;
        p.work.scheduleReclaim(cpu);
        break;
      }
    }
  }
  p.spec?.freeEnd(cpu, chunk);
  p.indexCheck?.(cpu, chunk);
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  cpu.leave();
}

export const singleMutex: HistoricalBug<PcpuOps> = {
  name: 'single-mutex', commit: 'ccea34b5d0fb', subject: 'percpu: finer grained locking to break deadlock and allow atomic free',
  summary: 'one mutex serializes alloc and free, so free_percpu sleeps and cannot be called from atomic context',
  scenario: 'irq-free', expect: ['sleep-in-atomic'],
  ops: { free: freePercpu },
};
