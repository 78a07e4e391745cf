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
// Every function states its CONTEXT, and checks what it can: lock
// operations, might-sleep points and allocations go through the CPU
// context, which enforces the rules and is where controlled runs switch CPUs.

import { C, CHUNK_SHADOW_WORDS, H } from '../shm/layout.ts';
import type { Cpu } from '../sync/cpu.ts';
import { Lock } from '../sync/locks.ts';
import { F } from '../sync/sites.ts';
import { Tag, heapFreed, heapInArena, heapLive } from '../mm/heap.ts';
import { kfree, kzalloc } from '../mm/kernel-api.ts';
import { pageIndex } from '../mm/pages.ts';
import { vmToPfn } from '../mm/vm.ts';
import { MUTEX, PCPU_LOCK, PcpuState } from './chunk.ts';
import { PCPU_DFL_MAP_ALLOC, allocArea, chunkRelocate, freeArea, needToExtend, sizeToSlot } from './area-map.ts';
import type { ChunkBackend, ChunkRecords } from './backend.ts';
import { Bug } from './inject.ts';
import { memAlloc, memFree } from './mem.ts';
import { PCPU_MIN_UNIT_SIZE } from '../shm/config.ts';

export const WARN_LIMIT = 10;

/** Hooks the workqueue provides to the allocator. */
export interface WorkHooks {
  /** schedule_work(&pcpu_reclaim_work); never sleeps. */
  scheduleReclaim(cpu: Cpu): void;
}

/**
 * The specification checker's hooks (src/check/spec.ts), called where a
 * 2.6.35 rule applies; null when checks are off.
 */
export interface SpecHooks {
  beforeAlloc(cpu: Cpu, chunk: number, size: number, align: number): void;
  afterAlloc(cpu: Cpu, chunk: number, size: number, align: number, off: number): void;
  beforeFree(cpu: Cpu, chunk: number): void;
  afterFree(cpu: Cpu, chunk: number, off: number): void;
  noChunkFits(cpu: Cpu, size: number, align: number): void;
  chunkCreated(cpu: Cpu, chunk: number): void;
  freeBegin(cpu: Cpu): void;
  freeEnd(cpu: Cpu, chunk: number): void;
  reclaimBegin(): void;
  reclaimEnd(cpu: Cpu, destroyed: readonly number[]): void;
  allocFailed(): void;
}

export class Percpu implements ChunkRecords {
  readonly st: PcpuState;
  backend!: ChunkBackend;
  inject: Bug = Bug.none;
  /** The err string of the last failed pcpuAlloc on this thread. */
  lastError = '';
  /** Did the last freePercpu call schedule_work? */
  lastFreeScheduled = false;
  /**
   * A checker run on the chunk just changed, with pcpu_lock still held (the
   * only moment its map is consistent while other CPUs run).
   */
  indexCheck: ((cpu: Cpu, chunk: number) => void) | null = null;
  /** Specification checks (checks on), or null. */
  spec: SpecHooks | null = null;

  constructor(st: PcpuState, private readonly work: WorkHooks) {
    this.st = st;
  }

  attach(backend: ChunkBackend): void {
    this.st.attach();
    this.backend = backend;
    this.inject = this.st.w[this.st.h + H.INJECT]! as Bug;
  }

  chunkAddr(chunk: number, cpuNr: number, page: number): number {
    return this.st.baseAddr(chunk) + this.st.unitOffset(cpuNr) + page * this.st.pageSize;
  }

  // ---- chunk records ----------------------------------------------------------
  /** pcpu_alloc_chunk: an empty chunk record and its first map. May sleep. */
  allocChunk(cpu: Cpu): number {
    const st = this.st, w = st.w;
    const chunk = kzalloc(cpu, (C.POPULATED + st.L.bitmapWords + CHUNK_SHADOW_WORDS) * 4, Tag.CHUNK);
    if (chunk === 0) return 0;
    const map = memAlloc(cpu, st, PCPU_DFL_MAP_ALLOC * 4, Tag.MAP);
    if (map === 0) {
      kfree(cpu, chunk);
      return 0;
    }
    w[chunk + C.MAP] = map;
    w[chunk + C.MAP_ALLOC] = PCPU_DFL_MAP_ALLOC;
    w[map] = st.unitSize;
    w[chunk + C.MAP_USED] = 1;
    st.initListHead(chunk);
    w[chunk + C.FREE_SIZE] = st.unitSize;
    w[chunk + C.CONTIG_HINT] = st.unitSize;
    return chunk;
  }

  /** pcpu_free_chunk: the record and its map. */
  freeChunk(cpu: Cpu, chunk: number): void {
    memFree(cpu, this.st, this.st.map(chunk), this.st.mapAlloc(chunk) * 4);
    kfree(cpu, chunk);
  }

  /**
   * Is `chunk` still a chunk? A freed record is a use-after-free (what KASAN
   * would report on the first access); anything else is list corruption.
   */
  checkChunk(cpu: Cpu, chunk: number, what: string): void {
    const st = this.st;
    if (chunk === st.firstChunk || chunk === st.reservedChunk) return;
    if (heapLive(st.shm, chunk, Tag.CHUNK)) return;
    if (heapFreed(st.shm, chunk)) {
      cpu.report('use-after-free', `BUG: KASAN: use-after-free in ${what}`,
        `Read of size 4 at w[${chunk}] by ${cpu.name}: the pcpu_chunk was freed (destroyed by reclaim) while still in use`);
    }
    const slot = st.headSlot(chunk);
    cpu.report('list-corruption', slot >= 0 ? `BUG: list walk in ${what} reached the head of pcpu_slot[${slot}]` : `BUG: unable to handle kernel paging request in ${what}`,
      slot >= 0 ? 'a list head was taken for a chunk: the walk left the list it started on' : `w[${chunk}] is not a chunk${heapInArena(st.shm, chunk) ? ' (heap object of another type)' : ''}`);
  }

  // ---- the area map, as the specification checker watches it ---------------
  private areaAlloc(cpu: Cpu, chunk: number, size: number, align: number): number {
    const spec = this.spec;
    if (spec === null) return allocArea(this.st, cpu, chunk, size, align);
    spec.beforeAlloc(cpu, chunk, size, align);
    const off = allocArea(this.st, cpu, chunk, size, align);
    spec.afterAlloc(cpu, chunk, size, align, off);
    return off;
  }

  private areaFree(cpu: Cpu, chunk: number, off: number): void {
    const spec = this.spec;
    if (spec === null) return freeArea(this.st, cpu, chunk, off);
    spec.beforeFree(cpu, chunk);
    freeArea(this.st, cpu, chunk, off);
    spec.afterFree(cpu, chunk, off);
  }

  // ---- area map extension ---------------------------------------------------
  /**
   * pcpu_extend_area_map: grow the map to `newAlloc` entries.
   * CONTEXT: pcpu_alloc_mutex held, pcpu_lock NOT held; takes pcpu_lock.
   * Returns 0, or -ENOMEM.
   */
  extendAreaMap(cpu: Cpu, chunk: number, newAlloc: number): number {
    const st = this.st, w = st.w;
    cpu.enter(F.pcpu_extend_area_map);
    st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    const newSize = newAlloc * 4;
    let neu = memAlloc(cpu, st, newSize, Tag.MAP);
    if (neu === 0) {
      cpu.leave();
      return -12;
    }
    const flags = this.lockIndex(cpu);
    this.checkChunk(cpu, chunk, 'pcpu_extend_area_map');
    let old = 0;
    let oldSize = 0;
    const oldAlloc = st.mapAlloc(chunk);
    if (newAlloc > oldAlloc) {
      oldSize = oldAlloc * 4;
      const m = st.map(chunk);
      st.touchEntries(chunk, false);
      for (let i = 0; i < oldAlloc; i++) w[neu + i] = w[m + i]!;
      // a map shorter than the default is a first chunk's static map: never freed
      if (oldAlloc >= PCPU_DFL_MAP_ALLOC) old = m;
      st.setMap(chunk, neu, newAlloc);
      neu = 0;
    }
    if (this.inject === Bug.extend_free_under_lock) {
      memFree(cpu, st, old, oldSize);
      memFree(cpu, st, neu, newSize);
      this.unlockIndex(cpu, flags);
    } else {
      this.unlockIndex(cpu, flags);
      // freeing may vfree(), which takes an irq-unsafe lock: not under pcpu_lock
      if (old) memFree(cpu, st, old, oldSize);
      if (neu) memFree(cpu, st, neu, newSize);
    }
    cpu.leave();
    return 0;
  }

  /** pcpu_lock as pcpu_alloc takes it: irqsave (or a historical variant). */
  private lockIndex(cpu: Cpu): number {
    switch (this.inject) {
      case Bug.alloc_plain_spinlock:
        cpu.spinLock(Lock.pcpu_lock);
        return 0;
      case Bug.alloc_irq_restore:
        cpu.spinLockIrq(Lock.pcpu_lock);
        return 0;
      default:
        return cpu.spinLockIrqSave(Lock.pcpu_lock);
    }
  }

  private unlockIndex(cpu: Cpu, flags: number): void {
    switch (this.inject) {
      case Bug.alloc_plain_spinlock:
        cpu.spinUnlock(Lock.pcpu_lock);
        return;
      case Bug.alloc_irq_restore:
        cpu.spinUnlockIrq(Lock.pcpu_lock);
        return;
      default:
        cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
    }
  }

  // ---- allocation --------------------------------------------------------------
  /**
   * pcpu_alloc: `size` bytes aligned at `align` in every unit; returns the
   * percpu pointer (an address in unit 0's space) or 0 with lastError set.
   * CONTEXT: may sleep (takes pcpu_alloc_mutex, allocates GFP_KERNEL).
   */
  pcpuAlloc(cpu: Cpu, size: number, align: number, reserved: boolean): number {
    const ck = this.st.ck;
    if (ck === null) return this.alloc(cpu, size, align, reserved);
    const outer = ck.cpu;
    ck.cpu = cpu;
    try {
      return this.alloc(cpu, size, align, reserved);
    } finally {
      ck.cpu = outer;
    }
  }

  private alloc(cpu: Cpu, size: number, align: number, reserved: boolean): number {
    const st = this.st, w = st.w;
    if (!size || size > PCPU_MIN_UNIT_SIZE || align > st.pageSize) {
      this.lastError = `illegal size (${size}) or align (${align}) for percpu allocation`;
      cpu.host.printk(cpu, `WARNING: at mm/percpu.c:pcpu_alloc()\n${this.lastError}`);
      return 0;
    }
    cpu.enter(F.pcpu_alloc);
    cpu.mutexLock(Lock.pcpu_alloc_mutex);
    let flags = this.lockIndex(cpu);
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
        this.unlockIndex(cpu, flags);
        if (this.extendAreaMap(cpu, chunk, newAlloc) < 0) {
          return this.fail(cpu, size, align, 'failed to extend area map of reserved chunk');
        }
        flags = this.lockIndex(cpu);
      }
      off = this.areaAlloc(cpu, chunk, size, align);
      if (off < 0) err = 'alloc from reserved chunk failed';
    } else {
      restart: for (;;) {
        for (let slot = sizeToSlot(st, size); slot < st.nrSlots; slot++) {
          const head = st.slotHead(slot);
          let guard = st.L.vmSlots * 2 + 8;
          for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
            if (--guard < 0) cpu.report('list-corruption', `BUG: list walk of pcpu_slot[${slot}] does not come back to its head`, 'the slot list is corrupted (a cycle that misses its head)');
            chunk = pos;
            this.checkChunk(cpu, chunk, 'pcpu_alloc');
            if (size > st.contigHint(chunk)) continue;
            const newAlloc = needToExtend(st, chunk);
            if (newAlloc) {
              this.unlockIndex(cpu, flags);
              if (this.extendAreaMap(cpu, chunk, newAlloc) < 0) {
                return this.fail(cpu, size, align, 'failed to extend area map');
              }
              flags = this.lockIndex(cpu);
              // pcpu_lock was dropped: the walk must start over
              if (this.inject !== Bug.extend_no_restart) continue restart;
              this.checkChunk(cpu, chunk, 'pcpu_alloc');
            }
            off = this.areaAlloc(cpu, chunk, size, align);
            if (off >= 0) break search;
          }
        }
        // no space left anywhere: make a new chunk, with only the mutex held
        this.spec?.noChunkFits(cpu, size, align);
        this.unlockIndex(cpu, flags);
        chunk = this.backend.create(cpu);
        if (chunk === 0) return this.fail(cpu, size, align, 'failed to allocate new chunk');
        flags = this.lockIndex(cpu);
        w[chunk + C.SEQ] = w[st.h + H.CHUNK_SEQ]!++;
        w[st.h + H.CHUNKS_CREATED]!++;
        w[st.h + H.NR_CHUNKS]!++;
        if (w[st.h + H.NR_CHUNKS]! > w[st.h + H.NR_MAX_CHUNKS]!) w[st.h + H.NR_MAX_CHUNKS] = w[st.h + H.NR_CHUNKS]!;
        chunkRelocate(st, chunk, -1);
        this.spec?.chunkCreated(cpu, chunk);
      }
    }
    if (off < 0) {
      this.unlockIndex(cpu, flags);
      return this.fail(cpu, size, align, err);
    }
    this.statsAlloc(size);
    this.indexCheck?.(cpu, chunk);
    this.unlockIndex(cpu, flags);

    // populate, map and clear with only the mutex held
    this.checkChunk(cpu, chunk, 'pcpu_populate_chunk');
    if (this.backend.populate(cpu, chunk, off, size)) {
      flags = this.lockIndex(cpu);
      this.areaFree(cpu, chunk, off);
      this.statsFree();
      this.unlockIndex(cpu, flags);
      return this.fail(cpu, size, align, 'failed to populate');
    }
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    cpu.leave();
    this.lastError = '';
    return st.baseAddr(chunk) + off;
  }

  private fail(cpu: Cpu, size: number, align: number, err: string): number {
    const st = this.st, w = st.w;
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    cpu.leave();
    this.lastError = err;
    this.spec?.allocFailed();
    const left = w[st.h + H.WARN_LIMIT]!;
    if (left > 0) {
      w[st.h + H.WARN_LIMIT] = left - 1;
      cpu.host.printk(cpu, `PERCPU: allocation failed, size=${size} align=${align}, ${err}`);
      if (left === 1) cpu.host.printk(cpu, 'PERCPU: limit reached, disable warning');
    }
    return 0;
  }

  private statsAlloc(size: number): void {
    const w = this.st.w, h = this.st.h;
    w[h + H.NR_ALLOC]!++;
    const cur = ++w[h + H.NR_CUR_ALLOC]!;
    if (cur > w[h + H.NR_MAX_ALLOC]!) w[h + H.NR_MAX_ALLOC] = cur;
    if (w[h + H.MIN_ALLOC_SIZE] === 0 || size < w[h + H.MIN_ALLOC_SIZE]!) w[h + H.MIN_ALLOC_SIZE] = size;
    if (size > w[h + H.MAX_ALLOC_SIZE]!) w[h + H.MAX_ALLOC_SIZE] = size;
  }

  private statsFree(): void {
    const w = this.st.w, h = this.st.h;
    w[h + H.NR_DEALLOC]!++;
    w[h + H.NR_CUR_ALLOC]!--;
  }

  // ---- free ------------------------------------------------------------------------
  /**
   * pcpu_chunk_addr_search: first/reserved chunk by address range, any
   * other through the page -> chunk back-pointer.
   * CONTEXT: pcpu_lock.
   */
  /**
   * per_cpu_ptr_to_phys() as 2.6.35 has it: an address counts as the first
   * chunk's only within unit 0's range (pcpu_addr_in_first_chunk), and the
   * page-based paths return the page's address without the offset in the
   * page. Returns -1 where the kernel would compute from a NULL page
   * (vmalloc_to_page of an address vmalloc space does not map).
   */
  perCpuPtrToPhys(cpu: Cpu, addr: number): number {
    const st = this.st;
    const L = st.L;
    cpu.enter(F.per_cpu_ptr_to_phys);
    try {
      const firstStart = st.baseAddr(st.firstChunk);
      let pfn: number;
      if (addr >= firstStart && addr < firstStart + st.unitSize) {
        if (addr < L.vmBase) return addr - L.linBase; // __pa()
        pfn = vmToPfn(st.shm, addr, st.pageShift); // vmalloc_to_page()
      } else {
        pfn = this.backend.addrToPfn(addr); // pcpu_addr_to_page()
      }
      return pfn < 0 ? -1 : pfn * st.pageSize; // page_to_phys(), no offset_in_page()
    } finally {
      cpu.leave();
    }
  }

  /** is_kernel_percpu_address(): inside some CPU's copy of the static percpu area (2.6.35: static variables only). */
  isKernelPercpuAddress(addr: number): boolean {
    const st = this.st;
    const base = st.w[st.h + H.BASE_ADDR]!;
    const staticSize = st.w[st.h + H.STATIC_SIZE]!;
    for (let c = 0; c < st.nrCpus; c++) {
      const start = base + st.unitOffset(c);
      if (addr >= start && addr < start + staticSize) return true;
    }
    return false;
  }

  chunkAddrSearch(cpu: Cpu, addr: number): number {
    const st = this.st;
    st.assertLocks(cpu, PCPU_LOCK);
    const first = st.firstChunk;
    const firstStart = st.baseAddr(first);
    if (addr >= firstStart && addr < firstStart + st.unitSize) {
      if (addr < firstStart + st.reservedLimit) return st.reservedChunk;
      return first;
    }
    // the address is relative to unit 0; look it up in this CPU's unit
    const a = addr + st.unitOffset(cpu.id < st.nrCpus ? cpu.id : 0);
    const pfn = this.backend.addrToPfn(a);
    if (pfn < 0) {
      cpu.report('page-fault', `BUG: unable to handle kernel NULL pointer dereference in pcpu_chunk_addr_search`,
        `no page behind percpu address ${addr.toString(16).padStart(8, '0')} (unit address ${a.toString(16)}): freed twice or never allocated?`);
    }
    st.touchPageChunk(false);
    return pageIndex(st.shm, pfn);
  }

  /**
   * free_percpu: free the area at `ptr`.
   * CONTEXT: any, including hardirq: pcpu_lock with irqsave only.
   */
  freePercpu(cpu: Cpu, ptr: number): void {
    this.lastFreeScheduled = false;
    if (ptr === 0) return;
    const ck = this.st.ck;
    if (ck === null) return this.free(cpu, ptr);
    const outer = ck.cpu;
    ck.cpu = cpu;
    try {
      this.free(cpu, ptr);
    } finally {
      ck.cpu = outer;
    }
  }

  private free(cpu: Cpu, ptr: number): void {
    const st = this.st;
    cpu.enter(F.free_percpu);
    const single = this.inject === Bug.single_mutex;
    let flags = 0;
    if (single) cpu.mutexLock(Lock.pcpu_alloc_mutex);
    else flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
    const chunk = this.chunkAddrSearch(cpu, ptr);
    this.checkChunk(cpu, chunk, 'free_percpu');
    this.spec?.freeBegin(cpu);
    this.areaFree(cpu, chunk, ptr - st.baseAddr(chunk));
    this.statsFree();
    // more than one fully free chunk: wake the grim reaper
    if (st.freeSize(chunk) === st.unitSize) {
      const head = st.slotHead(st.nrSlots - 1);
      for (let pos = st.next(head); pos !== head; pos = st.next(pos)) {
        if (pos !== chunk) {
          this.lastFreeScheduled = true;
          this.work.scheduleReclaim(cpu);
          break;
        }
      }
    }
    this.spec?.freeEnd(cpu, chunk);
    this.indexCheck?.(cpu, chunk);
    if (single) cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    else cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
    cpu.leave();
  }

  // ---- reclaim ---------------------------------------------------------------------
  /**
   * pcpu_reclaim, the work function: unlink every fully free chunk but the
   * first on the last slot list, then depopulate and destroy them.
   * CONTEXT: workqueue (process context, may sleep). Returns the creation
   * numbers of the destroyed chunks, in destruction order.
   */
  reclaim(cpu: Cpu): number[] {
    const ck = this.st.ck;
    if (ck === null) return this.reclaimWork(cpu);
    const outer = ck.cpu;
    ck.cpu = cpu;
    try {
      return this.reclaimWork(cpu);
    } finally {
      ck.cpu = outer;
    }
  }

  private reclaimWork(cpu: Cpu): number[] {
    const st = this.st, w = st.w;
    cpu.enter(F.pcpu_reclaim);
    const inj = this.inject;
    if (inj === Bug.reclaim_lock_inversion) {
      cpu.spinLockIrq(Lock.pcpu_lock);
      cpu.mutexLock(Lock.pcpu_alloc_mutex);
    } else {
      if (inj !== Bug.reclaim_no_mutex) cpu.mutexLock(Lock.pcpu_alloc_mutex);
      cpu.spinLockIrq(Lock.pcpu_lock);
    }
    w[st.h + H.RECLAIM_RUNS]!++;
    this.spec?.reclaimBegin();
    // the private todo list (a local LIST_HEAD): list_move puts each at its head
    const todo: number[] = [];
    const head = st.slotHead(st.nrSlots - 1);
    const firstEntry = st.next(head);
    for (let pos = firstEntry, n = st.next(pos); pos !== head; pos = n, n = st.next(pos)) {
      this.checkChunk(cpu, pos, 'pcpu_reclaim');
      if (st.immutable(pos)) cpu.report('kernel-bug', 'WARNING: at mm/percpu.c:pcpu_reclaim()', 'WARN_ON(chunk->immutable)', false);
      if (pos === firstEntry) continue; // spare the first one
      // list_move(&chunk->list, &todo): unlink and push at the todo head
      st.listDelInit(pos);
      todo.unshift(pos);
      w[st.h + H.NR_CHUNKS]!--;
    }
    if (inj === Bug.reclaim_lock_inversion) {
      cpu.spinUnlockIrq(Lock.pcpu_lock);
    } else {
      cpu.spinUnlockIrq(Lock.pcpu_lock);
      if (inj === Bug.reclaim_early_unlock) cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    }
    const destroyed: number[] = [];
    for (const chunk of todo) {
      destroyed.push(st.seq(chunk));
      this.backend.depopulate(cpu, chunk, 0, st.unitSize);
      this.backend.destroy(cpu, chunk);
      w[st.h + H.CHUNKS_DESTROYED]!++;
    }
    if (inj !== Bug.reclaim_early_unlock && inj !== Bug.reclaim_no_mutex) cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
    this.spec?.reclaimEnd(cpu, destroyed);
    cpu.leave();
    return destroyed;
  }
}
