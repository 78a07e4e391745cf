// The percpu allocator core (mm/percpu.c, Linux 4.1: the design of 3.18 to
// 4.13).
//
// Synchronization rules, as 4.1 has them. pcpu_lock, an irq-safe spinlock,
// guards every internal data structure: the slot lists, the area maps and
// the chunk fields, and pcpu_nr_empty_pop_pages. pcpu_alloc_mutex guards
// chunk creation and destruction and [de]population (and with it the shared
// temp pages array). An allocation is atomic when its mask lacks any bit of
// GFP_KERNEL: it takes pcpu_lock only, never the mutex, never extends a map
// or creates or populates a chunk, and serves only populated pages, so it
// works from any context; when it fails it sets pcpu_atomic_alloc_failed and
// kicks the balance work. Any other allocation takes pcpu_lock to search,
// drops it to extend a map (pcpu_lock alone guards the switch to the new
// map), takes the mutex only to create a chunk and to populate the pages of
// the area it found. A free takes pcpu_lock alone, irqsave, and works from
// any context. pcpu_balance_workfn, a work item, frees fully free chunks
// beyond one and keeps between PCPU_EMPTY_POP_PAGES_LOW and _HIGH empty
// populated pages for atomic allocations, creating and populating chunks
// itself; a chunk's map_extend_work grows its map for atomic allocations
// that run short of entries. Work runs only once pcpu_async_enabled.
//
// The functions below are 4.1's, bugs included, reached through a table of
// function pointers (PcpuOps below), which is how a machine boots a later
// kernel's fix (src/percpu/4.1/later/) instead. Every function states its
// CONTEXT and checks what it can through the CPU context.

import type { Cpu } from '../../sync/cpu.ts';
import { Lock } from '../../sync/locks.ts';
import { F } from '../../sync/sites.ts';
import { Tag } from '../../mm/heap.ts';
import { vmToPfn } from '../../mm/vm.ts';
import { GFP_KERNEL } from '../../mm/gfp.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../shm/config.ts';
import { PC, PC41 } from '../records.ts';
import { MUTEX, PCPU_LOCK, type PcpuState } from '../chunk.ts';
import { Allocator, WorkFn } from '../allocator.ts';
import { memAlloc, memFree } from '../mem.ts';
import { clearRange } from '../access.ts';
import { chunkRelocate, sizeToSlot } from '../slots.ts';
import type { Workqueue, ProcessOneWork } from '../../workqueue/workqueue.ts';
import { WORK_BALANCE } from '../../workqueue/workqueue.ts';
import { PCPU_DFL_MAP_ALLOC } from './area-map.ts';
import type { AddrToPfn } from '../allocator.ts';
import type { Mechanism41Hooks, Spec41Hooks } from './hooks.ts';

export { WARN_LIMIT } from '../allocator.ts';

/** What walkSlot returns besides an offset. */
export const WALK_NONE = -1;
export const WALK_EXTEND = -2;

/**
 * The places pcpu_alloc takes or drops pcpu_alloc_mutex: 4.1 holds it to
 * create a chunk (CREATE) and to populate the pages of the area it found
 * (POPULATE, dropped early on a failed population: POPULATE_FAIL); the
 * whole call (CALL: taken at the top, dropped on the way out of a failure)
 * holds nothing.
 */
export enum AllocMutexAt { CALL, CREATE, POPULATE, POPULATE_FAIL }
export const PCPU_EMPTY_POP_PAGES_LOW = 2;
export const PCPU_EMPTY_POP_PAGES_HIGH = 4;
const ENOMEM = -12;

/** Linux 4.1's functions as a table of function pointers (src/percpu/4.1/variants.ts BASELINE). */
export interface PcpuOps {
  /** pcpu_alloc */
  alloc(p: Percpu, cpu: Cpu, size: number, align: number, reserved: boolean, gfp: number): number;
  /**
   * pcpu_alloc's walk of one slot list (list_for_each_entry): an area's
   * offset from the first chunk with room, WALK_EXTEND when a chunk's map
   * must grow first (p.walkChunk, p.walkNewAlloc), or WALK_NONE.
   */
  walkSlot(p: Percpu, cpu: Cpu, slot: number, size: number, align: number, isAtomic: boolean): number;
  /** Where pcpu_alloc takes and drops pcpu_alloc_mutex: each place, with `lock` true to take it, false to drop it. */
  allocMutex(p: Percpu, cpu: Cpu, at: AllocMutexAt, isAtomic: boolean, lock: boolean): void;
  /** pcpu_alloc's test of its arguments (after forcing a 2-byte alignment and an even size): true refuses them. */
  argsIllegal(p: Percpu, size: number, align: number): boolean;
  /** free_percpu's update of pcpu_nr_empty_pop_pages for the `occPages` pages from `occFirst` the freed area leaves empty. CONTEXT: pcpu_lock. */
  freeAccount(p: Percpu, cpu: Cpu, chunk: number, occFirst: number, occPages: number): void;
  /** pcpu_alloc, the area found (pcpu_lock held): nothing in 4.1, whose accounting of the area's pages waits for emptyPopUpdate. */
  allocAccount(p: Percpu, cpu: Cpu, chunk: number, occFirst: number, occPages: number): void;
  /** pcpu_alloc's update of pcpu_nr_empty_pop_pages for the pages the new area occupies. */
  emptyPopUpdate(p: Percpu, cpu: Cpu, chunk: number, occPages: number): void;
  /**
   * pcpu_alloc's pcpu_free_area of the area at `off` after a population
   * failed; pcpu_alloc_area had counted `occPages` pages from `occFirst` as the
   * area's. CONTEXT: pcpu_lock.
   */
  populateFailFree(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number, occFirst: number, occPages: number): void;
  /** free_percpu */
  free(p: Percpu, cpu: Cpu, ptr: number): void;
  /** pcpu_need_to_extend */
  needToExtend(p: Percpu, cpu: Cpu, chunk: number, isAtomic: boolean): number;
  /** pcpu_extend_area_map */
  extendAreaMap(p: Percpu, cpu: Cpu, chunk: number, newAlloc: number): number;
  /** pcpu_map_extend_workfn (the work of a chunk's map_extend_work at `work`) */
  mapExtendWorkfn(p: Percpu, cpu: Cpu, work: number): void;
  /** pcpu_alloc_chunk's (and the first chunk's) INIT_WORK(&chunk->map_extend_work) */
  initMapExtend(p: Percpu, chunk: number): void;
  /** pcpu_balance_workfn, taking a fully free chunk off the slot lists to destroy it: nothing else in 4.1. CONTEXT: pcpu_lock. */
  mapExtendUnlink(p: Percpu, cpu: Cpu, chunk: number): void;
  /** pcpu_balance_workfn between destroying and populating: nothing in 4.1. CONTEXT: pcpu_alloc_mutex. */
  mapExtendService(p: Percpu, cpu: Cpu): void;
  /** pcpu_balance_workfn; returns the creation numbers of the chunks it destroyed */
  balanceWorkfn(p: Percpu, cpu: Cpu): number[];
  /** pcpu_alloc_area (the occupied pages in p.occPages) */
  allocArea(p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number;
  /** pcpu_free_area (the occupied pages in p.occPages) */
  freeArea(p: Percpu, cpu: Cpu, chunk: number, off: number): void;
  /** pcpu_chunk_populated / pcpu_chunk_depopulated */
  chunkPopulated(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void;
  chunkDepopulated(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void;
  /** pcpu_alloc_chunk */
  allocChunk(p: Percpu, cpu: Cpu): number;
  /** per_cpu_ptr_to_phys */
  perCpuPtrToPhys(p: Percpu, cpu: Cpu, addr: number): number;
  /** the backend's functions (percpu-vm or percpu-km, as the machine is configured) */
  populateChunk(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): number;
  depopulateChunk(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void;
  createChunk(p: Percpu, cpu: Cpu): number;
  destroyChunk(p: Percpu, cpu: Cpu, chunk: number): void;
  /** pcpu_map_pages (percpu-vm) */
  mapPages(p: Percpu, cpu: Cpu, chunk: number, pages: number, start: number, end: number): number;
  /** process_one_work (the events workqueue's worker) */
  processOneWork: ProcessOneWork;
}

/**
 * pcpu_chunk_struct_size on a 64-bit kernel: struct pcpu_chunk (88 bytes) and
 * the populated bitmap in longs. It decides kzalloc or vzalloc, as in 4.1;
 * the record itself also holds the harness's words.
 */
export function chunkStructSize(st: PcpuState): number {
  return 88 + Math.ceil(st.unitPages / 64) * 8;
}

export class Percpu extends Allocator {
  readonly kernel = '4.1' as const;
  /** The backend's page lookup (pcpu_addr_to_page). */
  backend!: AddrToPfn;
  ops!: PcpuOps;
  spec: Spec41Hooks | null = null;
  known: Mechanism41Hooks | null = null;
  /**
   * pcpu_alloc_area's and pcpu_free_area's *occ_pages_p: read by the caller
   * right after the call, under the same pcpu_lock hold (nothing can run on
   * this CPU in between).
   */
  occPages = 0;
  /** ... and the first of those pages (the harness's, for a fix that must know which pages). */
  occFirst = 0;
  /** walkSlot's chunk: the one the area is in, or whose map must grow (read right after the call, under the same pcpu_lock hold). */
  walkChunk = 0;
  /** walkSlot's WALK_EXTEND: the map length that chunk needs. */
  walkNewAlloc = 0;

  constructor(st: PcpuState, readonly wq: Workqueue) {
    super(st);
  }

  attach(backend: AddrToPfn, ops: PcpuOps): void {
    this.st.attach();
    this.backend = backend;
    this.ops = ops;
  }

  protected pages(): AddrToPfn {
    return this.backend;
  }

  protected alloc(cpu: Cpu, size: number, align: number, reserved: boolean, gfp: number): number {
    return this.ops.alloc(this, cpu, size, align, reserved, gfp);
  }

  protected free(cpu: Cpu, ptr: number): void {
    this.ops.free(this, cpu, ptr);
  }

  protected runWork(cpu: Cpu, fn: number, work: number): number[] {
    if (fn === WorkFn.pcpu_balance_workfn) {
      this.st.harnessCount41(PC41.BALANCE_RUNS);
      return this.ops.balanceWorkfn(this, cpu);
    }
    if (fn === WorkFn.pcpu_map_extend_workfn) {
      this.st.harnessCount41(PC41.EXTEND_WORK_RUNS);
      this.ops.mapExtendWorkfn(this, cpu, work);
      return [];
    }
    cpu.report('kernel-bug', 'BUG: unable to handle kernel paging request in process_one_work', `work->func ${fn} is not a function of this kernel`);
    return [];
  }

  perCpuPtrToPhys(cpu: Cpu, addr: number): number {
    return this.ops.perCpuPtrToPhys(this, cpu, addr);
  }

  allocChunk(cpu: Cpu): number {
    return this.ops.allocChunk(this, cpu);
  }

  /** pcpu_free_chunk: the map, then the record with pcpu_mem_free. */
  override freeChunk(cpu: Cpu, chunk: number): void {
    const st = this.st;
    this.lifecycle?.chunkDestroying(cpu, chunk);
    memFree(cpu, st, st.map(chunk), st.mapAlloc(chunk) * 4);
    st.ck?.chunkDestroyed(chunk);
    memFree(cpu, st, chunk, chunkStructSize(st));
  }

  /** pcpu_schedule_balance_work: only once asynchronous work is enabled. */
  scheduleBalanceWork(cpu: Cpu): void {
    if (this.st.asyncEnabled()) this.wq.scheduleWork(cpu, this.wq.work(WORK_BALANCE));
  }

  // ---- the area map, as the specification checker watches it ---------------
  areaAlloc(cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number {
    const spec = this.spec;
    if (spec === null) return this.ops.allocArea(this, cpu, chunk, size, align, popOnly);
    spec.beforeAlloc(cpu, chunk, size, align, popOnly);
    const off = this.ops.allocArea(this, cpu, chunk, size, align, popOnly);
    spec.afterAlloc(cpu, chunk, size, align, popOnly, off, this.occPages);
    return off;
  }

  areaFree(cpu: Cpu, chunk: number, off: number): void {
    const spec = this.spec;
    if (spec === null) return this.ops.freeArea(this, cpu, chunk, off);
    spec.beforeFree(cpu, chunk, off);
    this.ops.freeArea(this, cpu, chunk, off);
    spec.afterFree(cpu, chunk, off, this.occPages);
  }

  /** A chunk the allocator (or the balance work) just created joins the slot lists: numbered, counted, relocated. CONTEXT: pcpu_lock. */
  linkNewChunk(chunk: number): void {
    this.countNewChunk(chunk);
    chunkRelocate(this.st, chunk, -1);
  }

  /**
   * pcpu_alloc's failure exit (`fail:`): nothing held. A non-atomic failure
   * prints within warn_limit; an atomic one asks for urgent population.
   */
  fail(cpu: Cpu, size: number, align: number, isAtomic: boolean, err: string): number {
    const st = this.st;
    this.known?.walkDone(cpu);
    this.lastError = err;
    this.spec?.allocFailed(isAtomic);
    if (!isAtomic) {
      const left = st.warnLimit();
      if (left > 0) {
        cpu.host.printk(cpu, `PERCPU: allocation failed, size=${size} align=${align} atomic=0, ${err}`);
        st.setWarnLimit(left - 1);
        if (left === 1) cpu.host.printk(cpu, 'PERCPU: limit reached, disable warning');
      }
    } else {
      // see the flag handling in pcpu_balance_workfn()
      st.setAtomicAllocFailed(true);
      this.scheduleBalanceWork(cpu);
    }
    this.ops.allocMutex(this, cpu, AllocMutexAt.CALL, isAtomic, false);
    cpu.leave();
    return 0;
  }
}

// ---- the 4.1 functions ---------------------------------------------------------

/**
 * pcpu_alloc_chunk: an empty chunk record (its map one free area covering
 * the unit, its map extension work initialized), private to `cpu` until
 * linked. CONTEXT: GFP_KERNEL allocations (may sleep).
 */
export function allocChunk(p: Percpu, cpu: Cpu): number {
  const st = p.st;
  // pcpu_mem_zalloc(pcpu_chunk_struct_size): kzalloc, or vzalloc when the struct outgrows a page
  const chunk = memAlloc(cpu, st, st.L.chunkWords * 4, Tag.CHUNK, chunkStructSize(st));
  if (chunk === 0) return 0;
  st.claimChunk(chunk, cpu.id);
  const map = memAlloc(cpu, st, PCPU_DFL_MAP_ALLOC * 4, Tag.MAP);
  if (map === 0) {
    memFree(cpu, st, chunk, chunkStructSize(st));
    return 0;
  }
  st.setMap(chunk, map, PCPU_DFL_MAP_ALLOC);
  st.setEntry(chunk, map, 0, 0);
  st.setEntry(chunk, map, 1, st.unitSize | 1);
  st.setMapUsed(chunk, 1);
  st.initListHead(chunk);
  p.ops.initMapExtend(p, chunk);
  st.setFreeSize(chunk, st.unitSize);
  st.setContigHint(chunk, st.unitSize);
  return chunk;
}

/**
 * pcpu_extend_area_map: grow the chunk's map to `newAlloc` entries (unless
 * someone already did). CONTEXT: GFP_KERNEL allocation; grabs and releases
 * pcpu_lock. Returns 0, or -ENOMEM.
 */
export function extendAreaMap(p: Percpu, cpu: Cpu, chunk: number, newAlloc: number): number {
  const st = p.st;
  cpu.enter(F.pcpu_extend_area_map);
  st.assertLocks(cpu, 0, PCPU_LOCK);
  p.known?.extendBegin(cpu, chunk);
  const newSize = newAlloc * 4;
  let neu = memAlloc(cpu, st, newSize, Tag.MAP);
  if (neu === 0) {
    p.known?.extendDone(cpu);
    cpu.leave();
    return ENOMEM;
  }
  // take pcpu_lock and switch to the new map
  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  p.known?.extendLocked(cpu, chunk);
  p.checkChunk(cpu, chunk, 'pcpu_extend_area_map');
  let old = 0;
  let oldSize = 0;
  if (newAlloc > st.mapAlloc(chunk)) {
    const oldAlloc = st.mapAlloc(chunk);
    oldSize = oldAlloc * 4;
    old = st.map(chunk);
    st.copyEntriesOut(chunk, old, neu, oldAlloc);
    st.setMap(chunk, neu, newAlloc);
    neu = 0;
  }
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
  // freeing may vfree(), which takes an irq-unsafe lock: not under pcpu_lock
  if (old) memFree(cpu, st, old, oldSize);
  if (neu) memFree(cpu, st, neu, newSize);
  p.known?.extendDone(cpu);
  cpu.leave();
  return 0;
}

/** pcpu_map_extend_workfn: extend the map of the chunk the work item is embedded in. CONTEXT: workqueue. */
export function mapExtendWorkfn(p: Percpu, cpu: Cpu, work: number): void {
  const st = p.st;
  const chunk = st.workChunk(work); // container_of
  cpu.enter(F.pcpu_map_extend_workfn);
  cpu.spinLockIrq(Lock.pcpu_lock);
  p.checkChunk(cpu, chunk, 'pcpu_map_extend_workfn');
  const newAlloc = p.ops.needToExtend(p, cpu, chunk, false);
  if (newAlloc) p.known?.extendDecided(cpu, chunk);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  if (newAlloc) p.ops.extendAreaMap(p, cpu, chunk, newAlloc);
  cpu.leave();
}

/**
 * pcpu_alloc: `size` bytes aligned at `align` in every unit; an atomic
 * allocation when `gfp` lacks any bit of GFP_KERNEL. Returns the percpu
 * pointer, or 0 with p.lastError set.
 */
export function pcpuAlloc(p: Percpu, cpu: Cpu, size: number, align: number, reserved: boolean, gfp: number): number {
  const st = p.st;
  const isAtomic = (gfp & GFP_KERNEL) !== GFP_KERNEL;
  // the lowest bit of an offset is the in-use flag: force a 2-byte alignment and an even size
  if (align < 2) align = 2;
  size = size + 1 - ((size + 1) % 2); // ALIGN(size, 2), without overflowing 32 bits
  if (p.ops.argsIllegal(p, size, align)) {
    p.lastError = `illegal size (${size}) or align (${align}) for percpu allocation`;
    cpu.host.printk(cpu, `WARNING: at mm/percpu.c:pcpu_alloc()\n${p.lastError}`);
    return 0;
  }
  cpu.enter(F.pcpu_alloc);
  p.ops.allocMutex(p, cpu, AllocMutexAt.CALL, isAtomic, true);
  let flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  let chunk = 0;
  let off = -1;
  let occPages = 0;
  let occFirst = 0;
  let err = '';

  found: {
    // serve reserved allocations from the reserved chunk if there is one
    if (reserved && st.reservedChunk !== 0) {
      chunk = st.reservedChunk;
      if (size > st.contigHint(chunk)) {
        err = 'alloc from reserved chunk failed';
        break found;
      }
      for (let newAlloc = p.ops.needToExtend(p, cpu, chunk, isAtomic); newAlloc; newAlloc = p.ops.needToExtend(p, cpu, chunk, isAtomic)) {
        if (isAtomic) p.failures?.mapShort(cpu, chunk);
        cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
        if (isAtomic || p.ops.extendAreaMap(p, cpu, chunk, newAlloc) < 0) return p.fail(cpu, size, align, isAtomic, 'failed to extend area map of reserved chunk');
        flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
      }
      off = p.areaAlloc(cpu, chunk, size, align, isAtomic);
      occPages = p.occPages;
      occFirst = p.occFirst;
      if (off < 0) err = 'alloc from reserved chunk failed';
      break found;
    }

    restart: for (;;) {
      // search through normal chunks
      for (let slot = sizeToSlot(st, size); slot < st.nrSlots; slot++) {
        const r = p.ops.walkSlot(p, cpu, slot, size, align, isAtomic);
        if (r === WALK_NONE) continue;
        chunk = p.walkChunk;
        if (r === WALK_EXTEND) {
          cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
          if (p.ops.extendAreaMap(p, cpu, chunk, p.walkNewAlloc) < 0) return p.fail(cpu, size, align, isAtomic, 'failed to extend area map');
          flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
          // pcpu_lock was dropped: the walk must start over
          continue restart;
        }
        off = r;
        occPages = p.occPages;
        occFirst = p.occFirst;
        break found;
      }
      if (isAtomic) p.failures?.noRoomAtomic(cpu, size, align);
      cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);

      // No space left: create a new chunk. Tasks serialize on the mutex and
      // create one only if there is still no empty chunk once they hold it.
      if (isAtomic) return p.fail(cpu, size, align, isAtomic, err);
      p.ops.allocMutex(p, cpu, AllocMutexAt.CREATE, isAtomic, true);
      if (st.freeSlotEmptyPeek()) {
        chunk = p.ops.createChunk(p, cpu);
        if (chunk === 0) {
          p.ops.allocMutex(p, cpu, AllocMutexAt.CREATE, isAtomic, false);
          return p.fail(cpu, size, align, isAtomic, 'failed to allocate new chunk');
        }
        flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
        p.linkNewChunk(chunk);
      } else {
        flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
      }
      p.ops.allocMutex(p, cpu, AllocMutexAt.CREATE, isAtomic, false);
    }
  }
  if (off < 0) {
    // (only the reserved chunk's paths come here)
    p.failures?.noRoom(cpu, chunk, size, align);
    cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
    return p.fail(cpu, size, align, isAtomic, err);
  }

  // area_found
  p.ops.allocAccount(p, cpu, chunk, occFirst, occPages);
  p.statsAlloc(size);
  p.indexCheck?.(cpu, chunk);
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
  p.known?.walkDone(cpu);

  // populate what is not populated yet
  if (!isAtomic) {
    p.ops.allocMutex(p, cpu, AllocMutexAt.POPULATE, isAtomic, true);
    p.checkChunk(cpu, chunk, 'pcpu_alloc');
    const pageStart = off >>> st.pageShift;
    const pageEnd = (off + size + st.pageSize - 1) >>> st.pageShift;
    for (let rs = st.nextPopulated(chunk, pageEnd, pageStart, false); rs < pageEnd; ) {
      const re = st.nextPopulated(chunk, pageEnd, rs + 1, true);
      if (st.immutable(chunk)) cpu.report('kernel-bug', 'WARNING: at mm/percpu.c:pcpu_alloc()', 'WARN_ON(chunk->immutable)', false);
      const ret = p.ops.populateChunk(p, cpu, chunk, rs, re);
      flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
      if (ret) {
        p.ops.allocMutex(p, cpu, AllocMutexAt.POPULATE_FAIL, isAtomic, false);
        p.ops.populateFailFree(p, cpu, chunk, off, size, occFirst, occPages);
        p.statsFree();
        cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
        return p.fail(cpu, size, align, isAtomic, 'failed to populate');
      }
      p.ops.chunkPopulated(p, cpu, chunk, rs, re);
      cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
      rs = st.nextPopulated(chunk, pageEnd, re + 1, false);
    }
    p.ops.allocMutex(p, cpu, AllocMutexAt.POPULATE, isAtomic, false);
  }

  p.ops.emptyPopUpdate(p, cpu, chunk, occPages);
  if (st.nrEmptyPopPages() < PCPU_EMPTY_POP_PAGES_LOW) p.scheduleBalanceWork(cpu);

  // clear the area in every unit
  for (let c = 0; c < st.nrCpus; c++) clearRange(st, cpu, p.chunkAddr(chunk, c, 0) + off, size);
  cpu.leave();
  p.lastError = '';
  return st.baseAddr(chunk) + off;
}

/**
 * 4.1 refuses a size of 0 or over PCPU_MIN_UNIT_SIZE (PFN_ALIGN(32 << 10): a
 * whole page when pages are bigger) and an alignment over PAGE_SIZE; any
 * other alignment goes to ALIGN(), which is meant for powers of two.
 */
export function argsIllegal(p: Percpu, size: number, align: number): boolean {
  return !size || size > Math.max(PCPU_MIN_UNIT_SIZE, p.st.pageSize) || align > p.st.pageSize;
}

/**
 * pcpu_alloc's list_for_each_entry over pcpu_slot[slot] (see PcpuOps.walkSlot).
 * `safe`: read the next chunk before scanning the current one
 * (list_for_each_entry_safe, fix walk-safe); 4.1 reads it after, and
 * pcpu_alloc_area may have moved the current chunk to another list by then.
 * CONTEXT: pcpu_lock.
 */
export function walkList(p: Percpu, cpu: Cpu, slot: number, size: number, align: number, isAtomic: boolean, safe: boolean): number {
  const st = p.st;
  const head = st.slotHead(slot);
  let guard = st.L.vmSlots * 2 + 8;
  for (let pos = st.next(head), n = 0; pos !== head; pos = safe ? n : st.next(pos)) {
    if (safe) n = st.next(pos);
    if (--guard < 0) cpu.report('list-corruption', `BUG: list walk of pcpu_slot[${slot}] does not come back to its head`, 'the slot list is corrupted (a cycle that misses its head)');
    p.walkChunk = pos;
    p.checkChunk(cpu, pos, 'pcpu_alloc', slot);
    if (size > st.contigHint(pos)) continue;
    const newAlloc = p.ops.needToExtend(p, cpu, pos, isAtomic);
    if (newAlloc) {
      if (isAtomic) continue;
      p.walkNewAlloc = newAlloc;
      p.known?.extendDecided(cpu, pos);
      return WALK_EXTEND;
    }
    const off = p.areaAlloc(cpu, pos, size, align, isAtomic);
    if (off >= 0) return off;
    p.known?.walkScanFailed(cpu, pos, slot);
  }
  return WALK_NONE;
}

/** 4.1's walk: the next chunk read after the scan. */
export function walkSlot(p: Percpu, cpu: Cpu, slot: number, size: number, align: number, isAtomic: boolean): number {
  return walkList(p, cpu, slot, size, align, isAtomic, false);
}

/** 4.1 takes pcpu_alloc_mutex to create a chunk and to populate, never for the whole call. */
export function allocMutex(_p: Percpu, cpu: Cpu, at: AllocMutexAt, _isAtomic: boolean, lock: boolean): void {
  if (at === AllocMutexAt.CALL) return;
  if (lock) cpu.mutexLock(Lock.pcpu_alloc_mutex);
  else cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
}

/** 4.1 counts every page the freed area leaves empty (they were all populated, the area being in use). */
export function freeAccount(p: Percpu, cpu: Cpu, _chunk: number, _occFirst: number, occPages: number): void {
  const st = p.st;
  const before = st.nrEmptyPopPages();
  p.known?.countStored(cpu, before, st.setNrEmptyPopPages(before + occPages));
}

/** 4.1 accounts for the area's pages after populating them (emptyPopUpdate), not here. */
export function allocAccount(): void {}

/** 4.1 updates pcpu_nr_empty_pop_pages with no lock held, after pcpu_lock was dropped. */
export function emptyPopUpdate(p: Percpu, cpu: Cpu, chunk: number, occPages: number): void {
  const st = p.st;
  if (chunk === st.reservedChunk) return;
  const before = st.nrEmptyPopPages();
  p.known?.emptyPopUnlocked(cpu);
  p.known?.countStored(cpu, before, st.setNrEmptyPopPages(before - occPages));
}

/**
 * 4.1 frees the area and does no accounting at all: the success path's
 * subtraction of the pages pcpu_alloc_area counted as the area's never
 * comes, nor the free's addition of those it leaves empty, so
 * pcpu_nr_empty_pop_pages goes wrong either way for the area's populated
 * pages, and for a page it shared with a later allocation once that page is
 * populated (counted as empty, and nobody owes it a subtraction any more).
 */
export function populateFailFree(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number, occFirst: number, occPages: number): void {
  p.areaFree(cpu, chunk, off);
  p.known?.populateFailFreed(cpu, chunk, off, size, occFirst, occPages, p.occFirst, p.occPages);
}

/** INIT_WORK(&chunk->map_extend_work, pcpu_map_extend_workfn). */
export function initMapExtend(p: Percpu, chunk: number): void {
  p.wq.initWork(p.st.extendWork(chunk), WorkFn.pcpu_map_extend_workfn, Lock.map_extend_work);
}

/** 4.1 destroys a chunk without a thought for its map_extend_work (nothing to unlink). */
export function mapExtendUnlink(): void {}

/** 4.1's balance work extends no maps (each chunk's map_extend_work does). */
export function mapExtendService(): void {}

/** free_percpu. CONTEXT: any, including hardirq: pcpu_lock with irqsave only. */
export function freePercpu(p: Percpu, cpu: Cpu, ptr: number): void {
  const st = p.st;
  cpu.enter(F.free_percpu);
  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  const chunk = p.chunkAddrSearch(cpu, ptr);
  p.checkChunk(cpu, chunk, 'free_percpu');
  p.areaFree(cpu, chunk, ptr - st.baseAddr(chunk));
  const occPages = p.occPages;
  p.statsFree();
  if (chunk !== st.reservedChunk) p.ops.freeAccount(p, cpu, chunk, p.occFirst, occPages);
  // more than one fully free chunk: wake up the grim reaper
  if (st.freeSize(chunk) === st.unitSize) {
    const head = st.slotHead(st.nrSlots - 1);
    for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
      if (pos !== chunk) {
        p.lastFreeScheduled = true;
        p.scheduleBalanceWork(cpu);
        break;
      }
    }
  }
  p.indexCheck?.(cpu, chunk);
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
  cpu.leave();
}

/**
 * pcpu_balance_workfn: destroy every fully free chunk but the first one on
 * the last slot list, then populate pages until PCPU_EMPTY_POP_PAGES_HIGH
 * are empty and populated (all of them after an atomic allocation failed),
 * filling the most used chunks first and creating chunks when none has room.
 * CONTEXT: workqueue (process context, may sleep). Returns the creation
 * numbers of the chunks destroyed, in destruction order.
 */
export function balanceWorkfn(p: Percpu, cpu: Cpu): number[] {
  const st = p.st;
  cpu.enter(F.pcpu_balance_workfn);
  // there is no reason to keep several unused chunks around: VM areas can be scarce
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  cpu.spinLockIrq(Lock.pcpu_lock);
  const toFree: number[] = [];
  const freeHead = st.slotHead(st.nrSlots - 1);
  const firstEntry = st.next(freeHead);
  for (let pos = firstEntry, n = st.next(pos); pos !== freeHead; pos = n, n = st.next(pos)) {
    p.checkChunk(cpu, pos, 'pcpu_balance_workfn');
    if (st.immutable(pos)) cpu.report('kernel-bug', 'WARNING: at mm/percpu.c:pcpu_balance_workfn()', 'WARN_ON(chunk->immutable)', false);
    if (pos === firstEntry) continue; // spare the first one
    p.ops.mapExtendUnlink(p, cpu, pos);
    // list_move to the private to_free list: each at its head
    st.listDelInit(pos, cpu.id);
    st.bump(PC.NR_CHUNKS, -1);
    toFree.unshift(pos);
  }
  cpu.spinUnlockIrq(Lock.pcpu_lock);

  const destroyed: number[] = [];
  for (const chunk of toFree) {
    for (let rs = st.nextPopulated(chunk, st.unitPages, 0, true); rs < st.unitPages; ) {
      const re = st.nextPopulated(chunk, st.unitPages, rs + 1, false);
      p.ops.depopulateChunk(p, cpu, chunk, rs, re);
      cpu.spinLockIrq(Lock.pcpu_lock);
      p.ops.chunkDepopulated(p, cpu, chunk, rs, re);
      cpu.spinUnlockIrq(Lock.pcpu_lock);
      rs = st.nextPopulated(chunk, st.unitPages, re + 1, true);
    }
    destroyed.push(st.seq(chunk));
    p.known?.destroying(cpu, chunk);
    p.ops.destroyChunk(p, cpu, chunk);
    st.harnessCount(PC.CHUNKS_DESTROYED);
  }

  p.ops.mapExtendService(p, cpu);

  // Keep some empty populated pages for atomic allocations, filling the most
  // used chunks first; after an atomic allocation failed, populate the most.
  for (;;) {
    let nrToPop: number;
    if (st.atomicAllocFailed()) {
      nrToPop = PCPU_EMPTY_POP_PAGES_HIGH;
      // best effort anyway, no synchronization
      st.setAtomicAllocFailed(false);
    } else {
      nrToPop = Math.min(Math.max(PCPU_EMPTY_POP_PAGES_HIGH - st.nrEmptyPopPages(), 0), PCPU_EMPTY_POP_PAGES_HIGH);
    }
    for (let slot = sizeToSlot(st, st.pageSize); slot < st.nrSlots; slot++) {
      if (!nrToPop) break;
      let nrUnpop = 0;
      let chunk = 0;
      cpu.spinLockIrq(Lock.pcpu_lock);
      const head = st.slotHead(slot);
      for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
        p.checkChunk(cpu, pos, 'pcpu_balance_workfn', slot);
        chunk = pos;
        nrUnpop = st.unitPages - st.nrPopulated(pos);
        if (nrUnpop) break;
      }
      cpu.spinUnlockIrq(Lock.pcpu_lock);
      if (!nrUnpop) continue;
      // the chunk cannot go away while pcpu_alloc_mutex is held
      for (let rs = st.nextPopulated(chunk, st.unitPages, 0, false); rs < st.unitPages; ) {
        const re = st.nextPopulated(chunk, st.unitPages, rs + 1, true);
        const nr = Math.min(re - rs, nrToPop);
        const ret = p.ops.populateChunk(p, cpu, chunk, rs, rs + nr);
        if (!ret) {
          nrToPop -= nr;
          cpu.spinLockIrq(Lock.pcpu_lock);
          p.ops.chunkPopulated(p, cpu, chunk, rs, rs + nr);
          cpu.spinUnlockIrq(Lock.pcpu_lock);
        } else {
          nrToPop = 0;
        }
        if (!nrToPop) break;
        rs = st.nextPopulated(chunk, st.unitPages, re + 1, false);
      }
    }
    if (!nrToPop) break;
    // ran out of chunks to populate: create a new one and retry
    const chunk = p.ops.createChunk(p, cpu);
    if (!chunk) break;
    cpu.spinLockIrq(Lock.pcpu_lock);
    p.linkNewChunk(chunk);
    cpu.spinUnlockIrq(Lock.pcpu_lock);
  }
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  cpu.leave();
  return destroyed;
}

/**
 * per_cpu_ptr_to_phys() as 4.1 has it: an address is the first chunk's when
 * it lies in any CPU's unit of it (between the lowest and highest unit);
 * there __pa() for the linear map, vmalloc_to_page() otherwise; any other
 * address through the backend's pcpu_addr_to_page(); both page paths add
 * offset_in_page(). Returns -1 where the kernel would compute from a NULL
 * page.
 */
export function perCpuPtrToPhys(p: Percpu, cpu: Cpu, addr: number): number {
  const st = p.st;
  const L = st.L;
  cpu.enter(F.per_cpu_ptr_to_phys);
  try {
    const first = st.firstChunk;
    const firstLow = p.chunkAddr(first, st.lowUnitCpu(), 0);
    const firstHigh = p.chunkAddr(first, st.highUnitCpu(), st.unitPages);
    let inFirstChunk = false;
    if (addr >= firstLow && addr < firstHigh) {
      const base = st.baseAddrGlobal();
      for (let c = 0; c < st.nrCpus; c++) {
        const start = base + st.unitOffset(c);
        if (addr >= start && addr < start + st.unitSize) {
          inFirstChunk = true;
          break;
        }
      }
    }
    const inPage = addr & (st.pageSize - 1);
    let pfn: number;
    if (inFirstChunk) {
      if (addr < L.vmBase) return addr - L.linBase; // __pa()
      pfn = vmToPfn(st.shm, addr, st.pageShift); // vmalloc_to_page()
    } else {
      pfn = p.backend.addrToPfn(addr); // pcpu_addr_to_page()
    }
    return pfn < 0 ? -1 : pfn * st.pageSize + inPage;
  } finally {
    cpu.leave();
  }
}
