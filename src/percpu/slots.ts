// The chunk slots, as both kernels have them: a chunk is filed on the slot
// list its free size calls for (__pcpu_size_to_slot: 1-31 bytes share slot
// 1; slot 0 when it is full or its contig_hint is under sizeof(int); the last
// slot iff it is fully free), moving up to the head of its new list and down
// to its tail (pcpu_chunk_relocate). Linux 2.6.35 and 4.1 have these
// functions word for word alike.
//
// CONTEXT: pcpu_lock.

import { Cov, covOn, covSet } from '../shm/coverage.ts';
import { fls, type PcpuState } from './chunk.ts';

const INT_SIZE = 4; // sizeof(int)

export const PCPU_SLOT_BASE_SHIFT = 5; // 1-31 bytes share slot 1

export function sizeToSlotRaw(size: number): number {
  return Math.max(fls(size) - PCPU_SLOT_BASE_SHIFT + 2, 1);
}

export function sizeToSlot(st: PcpuState, size: number): number {
  return size === st.unitSize ? st.nrSlots - 1 : sizeToSlotRaw(size);
}

export function chunkSlot(st: PcpuState, chunk: number): number {
  // free_size read once (the kernel reads it twice, under pcpu_lock: the same value)
  const free = st.freeSize(chunk);
  if (free < INT_SIZE || st.contigHint(chunk) < INT_SIZE) return 0;
  return sizeToSlot(st, free);
}

/**
 * Put a chunk on the slot list its free size calls for. Moving up goes to
 * the head of the new list, moving down to its tail. The reserved chunk is
 * never on a slot list.
 */
export function chunkRelocate(st: PcpuState, chunk: number, oslot: number): void {
  const nslot = chunkSlot(st, chunk);
  if (chunk !== st.reservedChunk && oslot !== nslot) {
    if (covOn(st.w, st.L)) covSet(st.w, st.L, Cov.SLOT, oslot + 1, nslot, 0, 0);
    if (oslot < nslot) st.listMove(chunk, st.slotHead(nslot));
    else st.listMoveTail(chunk, st.slotHead(nslot));
  }
}

