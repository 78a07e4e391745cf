// The kernel memory API as the allocator sees it, on a CPU context:
// kzalloc/kfree, vmalloc/vfree, alloc_pages/__free_pages, the vmalloc
// address space (pcpu_get_vm_areas) and page mapping. Each call sleeps
// where the kernel's may (GFP_KERNEL), takes the locks the kernel's takes
// (vmap_area_lock is irq-unsafe, as in mm/vmalloc.c), honours failure
// injection, and turns the raw allocators' status codes into violations.

import { F } from '../sync/sites.ts';
import { Lock } from '../sync/locks.ts';
import type { Cpu } from '../sync/cpu.ts';
import { FailSite, failShould } from './fail.ts';
import { FREE_DOUBLE, FREE_OK, HEAP_EXHAUSTED, TAG_NAMES, heapAlloc, heapFree, heapLiveAny, heapPayloadWords, type Tag } from './heap.ts';
import { PAGES_EXHAUSTED, PFREE_OK, pageAlloc, pageFree } from './pages.ts';
import { vmFreeArea, vmGetArea, vmMapPage, vmToPfn, vmUnmapPage } from './vm.ts';
import { GFP_KERNEL, gfpMaySleep } from './gfp.ts';
import { framesOf, whoOf } from './kasan.ts';

/** The emulator itself ran out of room (not the emulated kernel). */
export class CapacityExceeded extends Error {
  constructor(what: string) {
    super(`emulator capacity exceeded: ${what}`);
  }
}

/** Should this call fail by injection? Tells the host when it does (what justifies the failure). */
function injected(cpu: Cpu, site: FailSite): boolean {
  if (!failShould(cpu.host.shm, site)) return false;
  cpu.host.mmFailed(cpu, FailSite[site]);
  return true;
}

function heapResult(cpu: Cpu, p: number, bytes: number, tag: Tag, fn: string): number {
  if (p === HEAP_EXHAUSTED) {
    if (cpu.host.strictCapacity) throw new CapacityExceeded(`heap (${bytes} bytes for ${TAG_NAMES[tag]})`);
    cpu.host.mmFailed(cpu, 'capacity');
    return 0;
  }
  if (p < 0) {
    cpu.report('use-after-free', `BUG: ${fn}: Poison overwritten`,
      `a freed object reused for a ${TAG_NAMES[tag]} at w[${-p}] was written after it was freed`);
  }
  return Math.abs(p);
}

/** kzalloc(size, gfp): may sleep when the mask allows it (GFP_KERNEL does). */
export function kzalloc(cpu: Cpu, bytes: number, tag: Tag, gfp = GFP_KERNEL): number {
  const frames = framesOf(cpu);
  cpu.enter(F.kzalloc);
  if (gfpMaySleep(gfp)) cpu.mightSleep();
  else cpu.point();
  const p = injected(cpu, FailSite.kmalloc) ? 0 : heapResult(cpu, heapAlloc(cpu.host.shm, bytes, tag, frames, whoOf(cpu, false)), bytes, tag, 'kmalloc');
  cpu.leave();
  return p;
}

function freeResult(cpu: Cpu, st: number, p: number, fn: string): void {
  if (st === FREE_OK) return;
  if (st === FREE_DOUBLE) cpu.report('use-after-free', `BUG: ${fn}: double free of object w[${p}]`, 'the object was already freed', true, { at: p, double: true });
  else cpu.report('kernel-bug', `BUG: ${fn}: invalid pointer w[${p}]`, 'not a heap object');
}

/** debug_check_no_obj_freed for the object at p, if it is a live heap object. */
function checkNoObjFreed(cpu: Cpu, p: number): void {
  if (heapLiveAny(cpu.host.shm, p)) cpu.host.freeing(cpu, p, heapPayloadWords(cpu.host.shm, p));
}

/** kfree(): safe in any context (slab locks are irq-safe). */
export function kfree(cpu: Cpu, p: number): void {
  if (p === 0) return;
  cpu.host.tearingDown(cpu, 'object', p, 0);
  const frames = framesOf(cpu);
  cpu.enter(F.kfree);
  checkNoObjFreed(cpu, p);
  freeResult(cpu, heapFree(cpu.host.shm, p, frames, whoOf(cpu, false)), p, 'kfree');
  cpu.leave();
}

/** vmalloc(): may sleep; takes the irq-unsafe vmap_area_lock. */
export function vmalloc(cpu: Cpu, bytes: number, tag: Tag): number {
  const frames = framesOf(cpu);
  cpu.enter(F.vmalloc);
  cpu.mightSleep();
  let p = 0;
  if (!injected(cpu, FailSite.vmalloc)) {
    cpu.spinLock(Lock.vmap_area_lock);
    try {
      p = heapResult(cpu, heapAlloc(cpu.host.shm, bytes, tag, frames, whoOf(cpu, true)), bytes, tag, 'vmalloc');
    } finally {
      cpu.spinUnlock(Lock.vmap_area_lock);
    }
  }
  cpu.leave();
  return p;
}

/** vfree(): BUG in interrupt context; takes the irq-unsafe vmap_area_lock. */
export function vfree(cpu: Cpu, p: number): void {
  if (p === 0) return;
  cpu.host.tearingDown(cpu, 'object', p, 0);
  const frames = framesOf(cpu);
  cpu.enter(F.vfree);
  if (cpu.inIrq()) cpu.report('kernel-bug', 'kernel BUG at mm/vmalloc.c:vfree!', 'BUG_ON(in_interrupt())');
  checkNoObjFreed(cpu, p);
  cpu.spinLock(Lock.vmap_area_lock);
  const st = heapFree(cpu.host.shm, p, frames, whoOf(cpu, true));
  cpu.spinUnlock(Lock.vmap_area_lock);
  freeResult(cpu, st, p, 'vfree');
  cpu.leave();
}

const pageOut = { poisonBroken: -1 };

/** alloc_pages(gfp, order): may sleep when the mask allows it; returns the first pfn or -1. */
export function allocPages(cpu: Cpu, order: number, gfp = GFP_KERNEL): number {
  cpu.enter(F.alloc_pages);
  if (gfpMaySleep(gfp)) cpu.mightSleep();
  else cpu.point();
  let pfn = -1;
  if (!injected(cpu, FailSite.alloc_pages)) {
    pfn = pageAlloc(cpu.host.shm, order, pageOut);
    if (pfn === PAGES_EXHAUSTED) {
      if (cpu.host.strictCapacity) throw new CapacityExceeded(`page frames (order ${order})`);
      cpu.host.mmFailed(cpu, 'capacity');
      pfn = -1;
    } else if (pageOut.poisonBroken >= 0) {
      cpu.report('use-after-free', `pagealloc: memory corruption at pfn ${pageOut.poisonBroken}`,
        'a freed page was written after it was freed (page poison overwritten)');
    }
  }
  cpu.leave();
  return pfn;
}

/** __free_pages(): a page that is not allocated is reported as the kernel's bad page state. */
export function freePages(cpu: Cpu, pfn: number, order: number): void {
  cpu.enter(F.free_pages);
  const st = pageFree(cpu.host.shm, pfn, order);
  if (st !== PFREE_OK) {
    cpu.report('page-double-free', `BUG: Bad page state in process ${cpu.name}  pfn:${pfn.toString(16).padStart(5, '0')}`,
      'page:freed twice (page->flags says it is already free)');
  }
  cpu.leave();
}

/** pcpu_get_vm_areas(): reserve congruent address space for a chunk; may sleep. */
export function getVmArea(cpu: Cpu): number {
  cpu.enter(F.pcpu_get_vm_areas);
  cpu.mightSleep();
  let base = 0;
  if (!injected(cpu, FailSite.get_vm_areas)) {
    cpu.spinLock(Lock.vmap_area_lock);
    base = vmGetArea(cpu.host.shm);
    cpu.spinUnlock(Lock.vmap_area_lock);
    if (base === 0 && cpu.host.strictCapacity) throw new CapacityExceeded('vmalloc address space');
    if (base === 0) cpu.host.mmFailed(cpu, 'capacity');
  }
  cpu.leave();
  return base;
}

/** pcpu_free_vm_areas(): release the address space, dropping any stale mapping. */
export function freeVmArea(cpu: Cpu, base: number, span: number, pageShift: number): void {
  cpu.enter(F.pcpu_free_vm_areas);
  cpu.host.tearingDown(cpu, 'vm-area', base, span);
  cpu.spinLock(Lock.vmap_area_lock);
  for (let a = base; a < base + span; a += 1 << pageShift) vmUnmapPage(cpu.host.shm, a, pageShift);
  const ok = vmFreeArea(cpu.host.shm, base);
  cpu.spinUnlock(Lock.vmap_area_lock);
  if (!ok) cpu.report('kernel-bug', 'kernel BUG at mm/vmalloc.c:free_vm_area!', `vm area at ${base.toString(16)} was not reserved`);
  cpu.leave();
}

/** map_kernel_range_noflush() for one page: 0, -ENOMEM (a failure injected here), or -EBUSY (a live PTE is in the way). */
export function mapPage(cpu: Cpu, addr: number, pfn: number, pageShift: number): number {
  if (injected(cpu, FailSite.map_pages)) return -12;
  const old = vmToPfn(cpu.host.shm, addr, pageShift);
  if (old >= 0) {
    // vmap_pte_range: WARN_ON(!pte_none(*pte)) and -EBUSY, never a silent overwrite
    cpu.report('kernel-bug', 'WARNING: at mm/vmalloc.c:vmap_pte_range()',
      `WARN_ON(!pte_none(*pte)): ${addr.toString(16).padStart(8, '0')} is still mapped to pfn ${old}; mapping fails with -EBUSY`, false, { addr, pfn: old });
    // the failure this leads to is explained by the report just made
    cpu.host.mmFailed(cpu, 'vmap_pte_range (a live PTE, reported)');
    return -16;
  }
  if (vmMapPage(cpu.host.shm, addr, pfn, pageShift)) return 0;
  cpu.host.mmFailed(cpu, 'capacity');
  return -12;
}
