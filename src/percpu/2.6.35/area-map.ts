// The area map allocator of mm/percpu.c (2.6.35): a chunk's map is an array
// of signed sizes covering the chunk from offset 0; a positive entry is a
// free block, a negative one an allocated block. Allocation is first fit.
//
// CONTEXT for everything here: pcpu_lock held. Nothing here sleeps, locks or
// allocates; a BUG_ON becomes a fatal 'kernel-bug' violation on `cpu`.

import type { Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { PCPU_LOCK, type PcpuState } from '../chunk.ts';
import { chunkRelocate, chunkSlot } from '../slots.ts';

export const PCPU_DFL_MAP_ALLOC = 16;
const INT_SIZE = 4; // sizeof(int): smaller heads/tails are not worth a map entry

export { PCPU_SLOT_BASE_SHIFT, sizeToSlotRaw, sizeToSlot, chunkSlot, chunkRelocate } from '../slots.ts';

/** How long the map must grow to take one more split (0: long enough). */
export function needToExtend(st: PcpuState, chunk: number): number {
  const used = st.mapUsed(chunk);
  if (st.mapAlloc(chunk) >= used + 2) return 0;
  let n = PCPU_DFL_MAP_ALLOC;
  while (n < used + 2) n *= 2;
  return n;
}

function bug(cpu: Cpu, fn: string, cond: string): never {
  cpu.report('kernel-bug', `kernel BUG at mm/percpu.c:${fn}!`, `BUG_ON(${cond})`);
  throw new Error('unreachable');
}

/**
 * Split block i into [head][block][tail]; zero sizes are skipped. The map
 * must have room for the extra entries.
 */
export function splitBlock(st: PcpuState, cpu: Cpu, chunk: number, i: number, head: number, tail: number): void {
  const nrExtra = (head ? 1 : 0) + (tail ? 1 : 0);
  const used = st.mapUsed(chunk);
  if (st.mapAlloc(chunk) < used + nrExtra) bug(cpu, 'pcpu_split_block', 'chunk->map_alloc < chunk->map_used + nr_extra');
  const m = st.map(chunk);
  st.moveEntries(chunk, m, i + nrExtra, i, used - i);
  st.setMapUsed(chunk, used + nrExtra);
  if (head) {
    st.setEntry(chunk, m, i + 1, st.entry(chunk, m, i) - head);
    st.setEntry(chunk, m, i, head);
    i++;
  }
  if (tail) {
    st.setEntry(chunk, m, i, st.entry(chunk, m, i) - tail);
    st.setEntry(chunk, m, i + 1, tail);
  }
}

/**
 * pcpu_alloc_area: first fit of `size` bytes at `align`; returns the offset
 * or -1. Also refreshes contig_hint (exactly when the whole map was
 * scanned) and relocates the chunk.
 */
export function allocArea(st: PcpuState, cpu: Cpu, chunk: number, size: number, align: number): number {
  cpu.enter(F.pcpu_alloc_area);
  st.assertLocks(cpu, PCPU_LOCK);
  const oslot = chunkSlot(st, chunk);
  const m = st.map(chunk);
  let maxContig = 0;
  // map_used does not change while the loop scans (the split returns at once)
  const used = st.mapUsed(chunk);
  // map[i] is read once per step (the kernel reads it again for the offset: the same value, under pcpu_lock)
  for (let i = 0, off = 0; i < used; i++) {
    const isLast = i + 1 === used;
    let head = ((off + align - 1) & ~(align - 1)) - off;
    if (i === 0 && head !== 0) bug(cpu, 'pcpu_alloc_area', 'i == 0 && head != 0');
    const cur = st.entry(chunk, m, i);
    if (cur < 0) {
      off -= cur;
      continue;
    }
    if (cur < head + size) {
      maxContig = Math.max(cur, maxContig);
      off += cur;
      continue;
    }
    // A small head, or one next to a free block, joins the previous block.
    if (head && (head < INT_SIZE || st.entry(chunk, m, i - 1) > 0)) {
      const prev = st.entry(chunk, m, i - 1);
      if (prev > 0) {
        st.setEntry(chunk, m, i - 1, prev + head);
      } else {
        st.setEntry(chunk, m, i - 1, prev - head);
        st.setFreeSize(chunk, st.freeSize(chunk) - head);
      }
      st.setEntry(chunk, m, i, cur - head);
      off += head;
      head = 0;
    }
    // A tail too small to hold an int stays inside the allocation.
    let tail = st.entry(chunk, m, i) - head - size;
    if (tail < INT_SIZE) tail = 0;
    if (head || tail) {
      splitBlock(st, cpu, chunk, i, head, tail);
      if (head) {
        i++;
        off += head;
        maxContig = Math.max(st.entry(chunk, m, i - 1), maxContig);
      }
      if (tail) maxContig = Math.max(st.entry(chunk, m, i + 1), maxContig);
    }
    if (isLast) st.setContigHint(chunk, maxContig); // fully scanned
    else st.setContigHint(chunk, Math.max(st.contigHint(chunk), maxContig));
    const got = st.entry(chunk, m, i);
    st.setFreeSize(chunk, st.freeSize(chunk) - got);
    st.setEntry(chunk, m, i, -got);
    chunkRelocate(st, chunk, oslot);
    cpu.leave();
    return off;
  }
  st.setContigHint(chunk, maxContig); // fully scanned
  chunkRelocate(st, chunk, oslot);
  cpu.leave();
  return -1;
}

/** pcpu_free_area: free the area at `freeme`, merging with free neighbours. */
export function freeArea(st: PcpuState, cpu: Cpu, chunk: number, freeme: number): void {
  cpu.enter(F.pcpu_free_area);
  st.assertLocks(cpu, PCPU_LOCK);
  const oslot = chunkSlot(st, chunk);
  const m = st.map(chunk);
  let i = 0;
  let off = 0;
  const used0 = st.mapUsed(chunk);
  for (; i < used0; off += Math.abs(st.entry(chunk, m, i++))) if (off === freeme) break;
  if (off !== freeme) bug(cpu, 'pcpu_free_area', `off != freeme (${freeme} is not the start of an area)`);
  const e = st.entry(chunk, m, i);
  if (e > 0) bug(cpu, 'pcpu_free_area', `chunk->map[i] > 0 (area at ${freeme} is already free)`);
  st.setEntry(chunk, m, i, -e);
  st.setFreeSize(chunk, st.freeSize(chunk) - e);
  let used = st.mapUsed(chunk);
  if (i > 0 && st.entry(chunk, m, i - 1) >= 0) {
    st.setEntry(chunk, m, i - 1, st.entry(chunk, m, i - 1) + st.entry(chunk, m, i));
    used--;
    st.moveEntries(chunk, m, i, i + 1, used - i);
    i--;
  }
  if (i + 1 < used && st.entry(chunk, m, i + 1) >= 0) {
    st.setEntry(chunk, m, i, st.entry(chunk, m, i) + st.entry(chunk, m, i + 1));
    used--;
    st.moveEntries(chunk, m, i + 1, i + 2, used - i - 1);
  }
  st.setMapUsed(chunk, used);
  st.setContigHint(chunk, Math.max(st.entry(chunk, m, i), st.contigHint(chunk)));
  chunkRelocate(st, chunk, oslot);
  cpu.leave();
}
