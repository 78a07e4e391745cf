// A hash of the allocator's final state, independent of where things happen
// to live in shared memory: chunks by creation number, their slots, sizes and
// maps, the statistics, and what the heap and the page pool hold. Two
// controlled runs with the same inputs end with the same hash.

import { createHash } from 'node:crypto';
import { heapStats } from '../mm/heap.ts';
import { pagesUsed } from '../mm/pages.ts';
import type { CheckTarget } from './target.ts';
import { percpuStats } from '../percpu/stats.ts';

export function stateHash(k: CheckTarget): string {
  const st = k.st;
  const parts: (string | number)[] = [];
  for (let s = 0; s < st.nrSlots; s++) {
    const head = st.slotHead(s);
    let n = 0;
    for (let pos = st.next(head); pos !== head && n < 1 << 16; pos = st.next(pos), n++) {
      parts.push('c', st.seq(pos), s, st.freeSize(pos), st.contigHint(pos), ...st.mapArray(pos));
    }
  }
  if (st.reservedChunk) parts.push('r', st.freeSize(st.reservedChunk), st.contigHint(st.reservedChunk), ...st.mapArray(st.reservedChunk));
  const heap = heapStats(st.shm);
  parts.push('s', ...Object.values(percpuStats(k.shm)), 'h', heap.objects, heap.bytes, 'p', pagesUsed(st.shm));
  return createHash('sha256').update(parts.join(',')).digest('hex').slice(0, 16);
}
