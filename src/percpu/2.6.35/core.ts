// The percpu allocator core (mm/percpu.c, Linux 2.6.35).
//
// Synchronization rules. Two locks: pcpu_alloc_mutex serializes the
// allocation and reclaim paths and protects chunk creation, population and
// the shared temp buffer; pcpu_lock, an irq-safe spinlock, protects the index
// (slot lists, area maps, chunk fields). An allocation holds the mutex all
// along and takes pcpu_lock only around index work; every memory allocation
// happens with pcpu_lock dropped. A free touches only the index, so it takes
// pcpu_lock alone (irqsave) and works from atomic context; when a chunk
// becomes fully free and another fully free chunk exists it schedules the
// reclaim work, which takes both locks to unlink chunks (an allocation may
// be using a chunk with only the mutex held) and destroys them with the
// mutex still held.
//
// The functions below are 2.6.35's, bugs included. They are reached through
// a table of function pointers (PcpuOps below), which is how a machine
// boots a historical bug (src/percpu/2.6.35/history/) or a later kernel's fix
// (src/percpu/2.6.35/later/) instead: each variant is its own file, beside the
// port, never a switch inside it. The Percpu class holds the state and the
// helpers those functions share.
//
// Every function states its CONTEXT, and checks what it can: lock
// operations, might-sleep points and allocations go through the CPU
// context, which enforces the rules and is where controlled runs switch CPUs.

import { PC } from '../records.ts';
import type { Cpu } from '../../sync/cpu.ts';
import { Lock } from '../../sync/locks.ts';
import { F } from '../../sync/sites.ts';
import { Tag } from '../../mm/heap.ts';
import { kfree, kzalloc } from '../../mm/kernel-api.ts';
import { vmToPfn } from '../../mm/vm.ts';
import { MUTEX, PCPU_LOCK, type PcpuState } from '../chunk.ts';
import { PCPU_DFL_MAP_ALLOC, allocArea, chunkRelocate, freeArea, needToExtend, sizeToSlot } from './area-map.ts';
import type { ChunkBackend, VmPages } from '../backend.ts';
import { Allocator, WorkFn } from '../allocator.ts';
import type { ProcessOneWork } from '../../workqueue/workqueue.ts';
import type { MechanismHooks, SpecHooks, WorkHooks } from '../hooks.ts';
import { memAlloc, memFree } from '../mem.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../shm/config.ts';
import { PHYS_CHUNK, PHYS_LINEAR, PHYS_VMALLOC } from '../../check/records.ts';

export { WARN_LIMIT } from '../allocator.ts';

export type { SpecHooks, WorkHooks, MechanismHooks, FailureHooks } from '../hooks.ts';

/**
 * The allocator's operations as a table of function pointers, the kernel's
 * own way of choosing an implementation at boot. A machine boots 2.6.35's
 * table (src/percpu/2.6.35/variants.ts BASELINE), or the same table with one
 * historical bug's pre-fix functions (history/) or later kernels' fixes
 * (later/) in place. Nothing in the port tests which variant is running.
 */
export interface PcpuOps {
  /** pcpu_alloc */
  alloc(p: Percpu, cpu: Cpu, size: number, align: number, reserved: boolean): number;
  /** The spin_lock flavour pcpu_alloc and pcpu_extend_area_map take pcpu_lock with (returns the flags to restore). */
  lockIndex(p: Percpu, cpu: Cpu): number;
  unlockIndex(p: Percpu, cpu: Cpu, flags: number): void;
  /**
   * pcpu_alloc's populate step: 0 or an error. 2.6.35 leaves clearing the
   * area to the backend (percpu-vm clears, percpu-km does not).
   */
  populateArea(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number): number;
  /** pcpu_extend_area_map */
  extendAreaMap(p: Percpu, cpu: Cpu, chunk: number, newAlloc: number): number;
  /** free_percpu */
  free(p: Percpu, cpu: Cpu, ptr: number): void;
  /** pcpu_reclaim (the work function) */
  reclaim(p: Percpu, cpu: Cpu): number[];
  /** per_cpu_ptr_to_phys */
  perCpuPtrToPhys(p: Percpu, cpu: Cpu, addr: number): number;
  /** pcpu_addr_in_first_chunk: does per_cpu_ptr_to_phys take `addr` for the first chunk's? */
  addrInFirstChunk(p: Percpu, addr: number): boolean;
  /** pcpu_map_pages (percpu-vm) */
  mapPages(b: VmPages, cpu: Cpu, chunk: number, pages: number, bitmap: number, start: number, end: number): number;
  /** process_one_work (the events workqueue's worker): run the work's function if it is pending; returns whether it ran. */
  processOneWork: ProcessOneWork;
}


export class Percpu extends Allocator {
  readonly kernel = '2.6.35' as const;
  backend!: ChunkBackend;
  /** The functions this machine runs: 2.6.35's, or a variant's (src/percpu/2.6.35/variants.ts). */
  ops!: PcpuOps;
  /** Specification checks (checks on), or null. */
  spec: SpecHooks | null = null;
  /** The known issues' mechanism recorder (checks on), or null. */
  known: MechanismHooks | null = null;

  constructor(st: PcpuState, readonly work: WorkHooks) {
    super(st);
  }

  attach(backend: ChunkBackend, ops: PcpuOps): void {
    this.st.attach();
    this.backend = backend;
    this.ops = ops;
  }

  protected pages(): ChunkBackend {
    return this.backend;
  }

  // ---- entry points (the base class tells the checker which CPU is inside) ----------
  /** pcpu_alloc. CONTEXT: may sleep (takes pcpu_alloc_mutex, allocates GFP_KERNEL); 2.6.35 takes no mask. */
  protected alloc(cpu: Cpu, size: number, align: number, reserved: boolean): number {
    return this.ops.alloc(this, cpu, size, align, reserved);
  }

  protected free(cpu: Cpu, ptr: number): void {
    this.ops.free(this, cpu, ptr);
  }

  /** 2.6.35 owns one work item: pcpu_reclaim_work. */
  protected runWork(cpu: Cpu): number[] {
    return this.ops.reclaim(this, cpu);
  }

  /**
   * pcpu_reclaim, the work function. CONTEXT: workqueue (process context,
   * may sleep). Returns the creation numbers of the destroyed chunks, in
   * destruction order.
   */
  reclaim(cpu: Cpu): number[] {
    return this.workFn(cpu, WorkFn.pcpu_reclaim, 0);
  }

  /** per_cpu_ptr_to_phys(). */
  perCpuPtrToPhys(cpu: Cpu, addr: number): number {
    return this.ops.perCpuPtrToPhys(this, cpu, addr);
  }

  // ---- chunk records ----------------------------------------------------------
  /** pcpu_alloc_chunk: an empty chunk record and its first map, private to `cpu` until linked. May sleep. */
  allocChunk(cpu: Cpu): number {
    const st = this.st;
    const chunk = kzalloc(cpu, st.L.chunkWords * 4, Tag.CHUNK);
    if (chunk === 0) return 0;
    st.claimChunk(chunk, cpu.id);
    const map = memAlloc(cpu, st, PCPU_DFL_MAP_ALLOC * 4, Tag.MAP);
    if (map === 0) {
      kfree(cpu, chunk);
      return 0;
    }
    st.initMap(map, st.unitSize);
    st.setMap(chunk, map, PCPU_DFL_MAP_ALLOC);
    st.setMapUsed(chunk, 1);
    st.initListHead(chunk);
    st.setFreeSize(chunk, st.unitSize);
    st.setContigHint(chunk, st.unitSize);
    return chunk;
  }

  // ---- the area map, as the specification checker watches it ---------------
  areaAlloc(cpu: Cpu, chunk: number, size: number, align: number): number {
    const spec = this.spec;
    if (spec === null) return allocArea(this.st, cpu, chunk, size, align);
    spec.beforeAlloc(cpu, chunk, size, align);
    const off = allocArea(this.st, cpu, chunk, size, align);
    spec.afterAlloc(cpu, chunk, size, align, off);
    return off;
  }

  areaFree(cpu: Cpu, chunk: number, off: number): void {
    const spec = this.spec;
    if (spec === null) return freeArea(this.st, cpu, chunk, off);
    spec.beforeFree(cpu, chunk, off);
    freeArea(this.st, cpu, chunk, off);
    spec.afterFree(cpu, chunk, off);
  }

  /** The new chunk becomes visible: numbered, counted, put on its slot list. CONTEXT: pcpu_lock. */
  linkNewChunk(cpu: Cpu, chunk: number): void {
    this.countNewChunk(chunk);
    chunkRelocate(this.st, chunk, -1);
    this.spec?.chunkCreated(cpu, chunk);
  }

  /** pcpu_alloc's failure exit: drop the mutex, print within warn_limit. */
  fail(cpu: Cpu, size: number, align: number, err: string): number {
    const st = this.st;
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    this.known?.walkDone(cpu);
    cpu.leave();
    this.lastError = err;
    this.spec?.allocFailed();
    const left = st.warnLimit();
    if (left > 0) {
      st.setWarnLimit(left - 1);
      cpu.host.printk(cpu, `PERCPU: allocation failed, size=${size} align=${align}, ${err}`);
      if (left === 1) cpu.host.printk(cpu, 'PERCPU: limit reached, disable warning');
    }
    return 0;
  }
}

// ---- the 2.6.35 functions ---------------------------------------------------------

/** pcpu_lock as pcpu_alloc and pcpu_extend_area_map take it: irqsave. */
export function lockIndex(_p: Percpu, cpu: Cpu): number {
  return cpu.spinLockIrqSave(Lock.pcpu_lock);
}

export function unlockIndex(_p: Percpu, cpu: Cpu, flags: number): void {
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
}

/**
 * pcpu_extend_area_map: grow the map to `newAlloc` entries.
 * CONTEXT: pcpu_alloc_mutex held, pcpu_lock NOT held; takes pcpu_lock.
 * Returns 0, or -ENOMEM.
 */
export function extendAreaMap(p: Percpu, cpu: Cpu, chunk: number, newAlloc: number): number {
  const st = p.st;
  cpu.enter(F.pcpu_extend_area_map);
  st.assertLocks(cpu, MUTEX, PCPU_LOCK);
  const newSize = newAlloc * 4;
  let neu = memAlloc(cpu, st, newSize, Tag.MAP);
  if (neu === 0) {
    cpu.leave();
    return -12;
  }
  const flags = p.ops.lockIndex(p, cpu);
  p.checkChunk(cpu, chunk, 'pcpu_extend_area_map');
  let old = 0;
  let oldSize = 0;
  const oldAlloc = st.mapAlloc(chunk);
  if (newAlloc > oldAlloc) {
    oldSize = oldAlloc * 4;
    const m = st.map(chunk);
    st.copyEntriesOut(chunk, m, neu, oldAlloc);
    // a map shorter than the default is a first chunk's static map: never freed
    if (oldAlloc >= PCPU_DFL_MAP_ALLOC) old = m;
    st.setMap(chunk, neu, newAlloc);
    neu = 0;
  }
  p.ops.unlockIndex(p, cpu, flags);
  // freeing may vfree(), which takes an irq-unsafe lock: not under pcpu_lock
  if (old) memFree(cpu, st, old, oldSize);
  if (neu) memFree(cpu, st, neu, newSize);
  cpu.leave();
  return 0;
}

/** pcpu_alloc (see Percpu.pcpuAlloc). */
export function pcpuAlloc(p: Percpu, cpu: Cpu, size: number, align: number, reserved: boolean): number {
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
    p.failures?.noRoom(cpu, chunk, size, align);
    p.ops.unlockIndex(p, cpu, flags);
    return p.fail(cpu, size, align, err);
  }
  p.statsAlloc(size);
  p.indexCheck?.(cpu, chunk);
  p.ops.unlockIndex(p, cpu, flags);
  p.known?.walkDone(cpu);

  // populate, map and clear with only the mutex held
  p.checkChunk(cpu, chunk, 'pcpu_populate_chunk');
  if (p.ops.populateArea(p, cpu, chunk, off, size)) {
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

/** free_percpu (see Percpu.freePercpu). CONTEXT: any, including hardirq: pcpu_lock with irqsave only. */
export function freePercpu(p: Percpu, cpu: Cpu, ptr: number): void {
  const st = p.st;
  cpu.enter(F.free_percpu);
  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  const chunk = p.chunkAddrSearch(cpu, ptr);
  p.checkChunk(cpu, chunk, 'free_percpu');
  p.spec?.freeBegin(cpu);
  p.areaFree(cpu, chunk, ptr - st.baseAddr(chunk));
  p.statsFree();
  // more than one fully free chunk: wake the grim reaper
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
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
  cpu.leave();
}

/**
 * pcpu_reclaim: unlink every fully free chunk but the first on the last
 * slot list, then depopulate and destroy them with pcpu_alloc_mutex held.
 */
export function pcpuReclaim(p: Percpu, cpu: Cpu): number[] {
  cpu.enter(F.pcpu_reclaim);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  cpu.spinLockIrq(Lock.pcpu_lock);
  const todo = reclaimUnlink(p, cpu);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  const destroyed = reclaimDestroy(p, cpu, todo);
  cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  p.spec?.reclaimEnd(cpu, destroyed);
  cpu.leave();
  return destroyed;
}

/**
 * pcpu_reclaim's first half: move every fully free chunk but the first on
 * the last slot list to a private todo list (list_move: each at its head).
 * CONTEXT: pcpu_lock (and, in 2.6.35, pcpu_alloc_mutex).
 */
export function reclaimUnlink(p: Percpu, cpu: Cpu): number[] {
  const st = p.st;
  st.harnessCount(PC.RECLAIM_RUNS);
  p.spec?.reclaimBegin();
  const todo: number[] = [];
  const head = st.slotHead(st.nrSlots - 1);
  const firstEntry = st.next(head);
  for (let pos = firstEntry, n = st.next(pos); pos !== head; pos = n, n = st.next(pos)) {
    p.checkChunk(cpu, pos, 'pcpu_reclaim');
    if (st.immutable(pos)) cpu.report('kernel-bug', 'WARNING: at mm/percpu.c:pcpu_reclaim()', 'WARN_ON(chunk->immutable)', false);
    if (pos === firstEntry) continue; // spare the first one
    st.listDelInit(pos, cpu.id);
    todo.unshift(pos);
    st.bump(PC.NR_CHUNKS, -1);
  }
  return todo;
}

/** pcpu_reclaim's second half: depopulate and destroy the unlinked chunks. */
export function reclaimDestroy(p: Percpu, cpu: Cpu, todo: readonly number[]): number[] {
  const st = p.st;
  const destroyed: number[] = [];
  for (const chunk of todo) {
    destroyed.push(st.seq(chunk));
    p.backend.depopulate(cpu, chunk, 0, st.unitSize);
    p.backend.destroy(cpu, chunk);
    st.harnessCount(PC.CHUNKS_DESTROYED);
  }
  return destroyed;
}

/** pcpu_alloc's populate step: the backend populates (and, percpu-vm only, clears). */
export function populateArea(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number): number {
  return p.backend.populate(cpu, chunk, off, size);
}

/** pcpu_addr_in_first_chunk as 2.6.35 has it: unit 0's range only. */
export function addrInFirstChunk(p: Percpu, addr: number): boolean {
  const st = p.st;
  const firstStart = st.baseAddr(st.firstChunk);
  return addr >= firstStart && addr < firstStart + st.unitSize;
}

/**
 * per_cpu_ptr_to_phys() as 2.6.35 has it: an address counts as the first
 * chunk's only within unit 0's range (pcpu_addr_in_first_chunk), and the
 * page-based paths return the page's address without the offset in the
 * page. Returns -1 where the kernel would compute from a NULL page
 * (vmalloc_to_page of an address vmalloc space does not map).
 */
export function perCpuPtrToPhys(p: Percpu, cpu: Cpu, addr: number): number {
  const st = p.st;
  const L = st.L;
  cpu.enter(F.per_cpu_ptr_to_phys);
  try {
    let pfn: number;
    let path: number;
    if (p.ops.addrInFirstChunk(p, addr)) {
      if (addr < L.vmBase) {
        p.known?.physPath(cpu, addr, PHYS_LINEAR, (addr - L.linBase) >> st.pageShift);
        return addr - L.linBase; // __pa()
      }
      pfn = vmToPfn(st.shm, addr, st.pageShift); // vmalloc_to_page()
      path = PHYS_VMALLOC;
    } else {
      pfn = p.backend.addrToPfn(addr); // pcpu_addr_to_page()
      path = PHYS_CHUNK;
    }
    p.known?.physPath(cpu, addr, path, pfn);
    return pfn < 0 ? -1 : pfn * st.pageSize; // page_to_phys(), no offset_in_page()
  } finally {
    cpu.leave();
  }
}
