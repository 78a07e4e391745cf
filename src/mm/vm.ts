// The emulated vmalloc address space: fixed-size slots of congruent address
// space for chunks (pcpu_get_vm_areas) and a flat page table from vmalloc
// addresses to page frames (map_kernel_range / vmalloc_to_page).

import type { Shm } from '../shm/layout.ts';
import { MM } from './records.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

export function vmInit(shm: Shm): void {
  const { w, L } = shm;
  w.fill(0, L.pte, L.pte + L.vmPages);
  w.fill(0, L.vmSlotMap, L.vmSlotMap + L.vmSlots);
  w[L.mm + MM.VM_SLOTS_USED] = 0;
}

/** Reserve one slot of address space; returns its base address or 0. */
export function vmGetArea(shm: Shm): number {
  const { w, L } = shm;
  rawLock(w, L.mm + MM.VM_LOCK);
  for (let s = 0; s < L.vmSlots; s++) {
    if (w[L.vmSlotMap + s] === 0) {
      w[L.vmSlotMap + s] = 1;
      w[L.mm + MM.VM_SLOTS_USED]!++;
      rawUnlock(w, L.mm + MM.VM_LOCK);
      return L.vmBase + s * L.vmSlotSpan;
    }
  }
  rawUnlock(w, L.mm + MM.VM_LOCK);
  return 0;
}

/** Release a slot; false if it was not reserved (double free). */
export function vmFreeArea(shm: Shm, base: number): boolean {
  const { w, L } = shm;
  const s = (base - L.vmBase) / L.vmSlotSpan;
  if (!Number.isInteger(s) || s < 0 || s >= L.vmSlots) return false;
  rawLock(w, L.mm + MM.VM_LOCK);
  const was = w[L.vmSlotMap + s];
  w[L.vmSlotMap + s] = 0;
  if (was) w[L.mm + MM.VM_SLOTS_USED]!--;
  rawUnlock(w, L.mm + MM.VM_LOCK);
  return was === 1;
}

export function vmSlotsUsed(shm: Shm): number {
  return shm.w[shm.L.mm + MM.VM_SLOTS_USED]!;
}

function pteIndex(shm: Shm, addr: number, pageShift: number): number {
  const i = (addr - shm.L.vmBase) >>> pageShift;
  return addr >= shm.L.vmBase && i < shm.L.vmPages ? i : -1;
}

export function vmMapPage(shm: Shm, addr: number, pfn: number, pageShift: number): boolean {
  const i = pteIndex(shm, addr, pageShift);
  if (i < 0) return false;
  shm.w[shm.L.pte + i] = pfn + 1;
  return true;
}

/** Unmap; returns the pfn that was mapped or -1. */
export function vmUnmapPage(shm: Shm, addr: number, pageShift: number): number {
  const i = pteIndex(shm, addr, pageShift);
  if (i < 0) return -1;
  const pfn = shm.w[shm.L.pte + i]! - 1;
  shm.w[shm.L.pte + i] = 0;
  return pfn;
}

/** vmalloc_to_page: the pfn mapped at a vmalloc address, or -1. */
export function vmToPfn(shm: Shm, addr: number, pageShift: number): number {
  const i = pteIndex(shm, addr, pageShift);
  return i < 0 ? -1 : shm.w[shm.L.pte + i]! - 1;
}
