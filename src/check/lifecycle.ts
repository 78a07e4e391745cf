// Lifecycle checks at the moment of teardown: an object must be out of use
// when it is destroyed, and the report is made at the destroy, naming what
// still uses it, before anything trips over the remains. The memory layer
// tells the machine before it frees a heap object or releases a vm area
// (CpuHost.tearingDown, src/mm/kernel-api.ts); this checker reads the state
// raw, with its own walks:
//
//   a pcpu_chunk record freed while still on a slot list (its list node is
//   linked: the walk from it reaches pcpu_slot[N]'s head);
//   a vm area released while pages are still mapped in it (a chunk destroyed
//   before it was depopulated).
//
// Generation-agnostic: it knows chunks by their heap tag and list node, not
// by which allocator made them. A work item freed while queued or running
// (4.1's map_extend_work, embedded in the chunk) is debug-objects' report,
// made as the kernel makes it, when the memory holding it is freed
// (Workqueue.checkFreed).

import type { Cpu } from '../sync/cpu.ts';
import type { CheckTarget } from './target.ts';
import type { LifecycleHooks } from '../percpu/hooks.ts';
import { C, PC } from '../percpu/records.ts';
import { HEAP_ALLOC, HEAP_CLASSES, HO, MM } from '../mm/records.ts';
import { Tag } from '../mm/heap.ts';

export class LifecycleChecker implements LifecycleHooks {
  constructor(private readonly k: CheckTarget) {}

  /** Which chunk a record is, for a report. */
  private chunkName(c: number): string {
    return `chunk #${this.k.shm.w[c + C.SEQ]} (w[${c}])`;
  }

  /** The heap object at `p` is about to be freed: a chunk record is checked again (whoever frees it). */
  objectFreed(cpu: Cpu, p: number): void {
    const { w, L } = this.k.shm;
    const obj = p - HO.SIZE;
    if (obj < L.heapArena || obj >= L.heapArena + L.heapWords || w[obj + HO.STATE] !== HEAP_ALLOC || w[obj + HO.TAG_OR_NEXT] !== Tag.CHUNK) return;
    this.chunkDestroying(cpu, p);
  }

  /** The allocator is about to free chunk `p` (its map, then its record): before it reads anything of it. */
  chunkDestroying(cpu: Cpu, p: number): void {
    const w = this.k.shm.w;
    const slot = this.listedOn(p);
    if (slot !== -1) {
      cpu.report('lifecycle', `BUG: percpu: ${this.chunkName(p)} destroyed while still on ${slot >= 0 ? `pcpu_slot[${slot}]` : 'a list'}`,
        `the pcpu_chunk is freed with its list node still linked (next w[${w[p]}], prev w[${w[p + 1]}])${slot >= 0 ? `: it is on pcpu_slot[${slot}]` : ''}; ` +
        'every walk of that list would take the freed record for a chunk. 2.6.35 unlinks a chunk (list_del under pcpu_lock) before it destroys it\n',
        true, { chunk: w[p + C.SEQ], slot });
    }
  }

  /** A vm area of `span` bytes at `base` is about to be released (pcpu_free_vm_areas). */
  vmAreaFreed(cpu: Cpu, base: number, span: number): void {
    const { w, L } = this.k.shm;
    const shift = 31 - Math.clz32(this.k.spec.cfg.pageSize);
    const first = (base - L.vmBase) >>> shift, n = span >>> shift;
    let mapped = 0, at = -1;
    for (let i = first; i < first + n && i < L.vmPages; i++) {
      if (w[L.pte + i] !== 0) {
        mapped++;
        if (at < 0) at = L.vmBase + (i << shift);
      }
    }
    if (mapped === 0) return;
    const owner = this.chunkOfArea(base);
    cpu.report('lifecycle', `BUG: percpu: ${owner ? this.chunkName(owner) : `the vm area at ${base.toString(16)}`} destroyed while ${mapped} of its pages ${mapped === 1 ? 'is' : 'are'} still mapped`,
      `pcpu_free_vm_areas(${base.toString(16)}) with live mappings, the first at ${at.toString(16).padStart(8, '0')}: the chunk was not depopulated (its pages unmapped and freed) before it was destroyed, ` +
      'so its pages leak and stay mapped until the area is torn down. 2.6.35\'s reclaim depopulates every chunk before it destroys it\n',
      false, { addr: at, pages: mapped, chunk: owner ? w[owner + C.SEQ] : -1 });
  }

  /**
   * Is the chunk's list node linked? -1: no (INIT_LIST_HEAD'ed, or still
   * zeroed: a record freed before its creation got that far); else the slot
   * whose head a walk from it reaches, or -2 for none found.
   */
  private listedOn(c: number): number {
    const { w, L } = this.k.shm;
    if ((w[c] === c && w[c + 1] === c) || (w[c] === 0 && w[c + 1] === 0)) return -1;
    const nrSlots = w[L.pc + PC.NR_SLOTS]!;
    for (let p = w[c]!, n = 0; p !== c && n < 1 << 16; p = w[p]!, n++) {
      const d = p - L.slots;
      if (d >= 0 && d < nrSlots * 2 && (d & 1) === 0) return d >> 1;
    }
    return -2;
  }

  /** The live chunk whose vm area starts at `base` (C.DATA), or 0 (the chunk being destroyed is off the lists: the heap is searched). */
  private chunkOfArea(base: number): number {
    const { w, L } = this.k.shm;
    const top = w[L.mm + MM.HEAP_TOP]!;
    for (let obj = L.heapArena; obj < top; obj += HO.SIZE + ((16 << w[obj + HO.CLASS]!) >> 2)) {
      if (w[obj + HO.STATE] === HEAP_ALLOC && w[obj + HO.TAG_OR_NEXT] === Tag.CHUNK && w[obj + HO.SIZE + C.DATA] === base) return obj + HO.SIZE;
      if (w[obj + HO.CLASS]! < 0 || w[obj + HO.CLASS]! >= HEAP_CLASSES) break;
    }
    return 0;
  }
}
