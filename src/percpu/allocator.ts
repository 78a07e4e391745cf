// The allocator as everything outside a kernel generation sees it: the
// machine, the CPU programs, traces and the checkers. Each generation
// (src/percpu/2.6.35/, src/percpu/4.1/) subclasses it with its own port and
// its own table of function pointers; what is here is what both kernels
// really share -- the entry points' bookkeeping, the chunk record allocator's
// free side, pcpu_chunk_addr_search, is_kernel_percpu_address, percpu_stats
// and the harness's own checks of a chunk pointer -- and nothing here asks
// which generation is running.

import { PC } from './records.ts';
import type { Cpu } from '../sync/cpu.ts';
import { Tag, heapLive } from '../mm/heap.ts';
import { deadRecord } from '../mm/kasan.ts';
import { kfree } from '../mm/kernel-api.ts';
import { GFP_KERNEL } from '../mm/gfp.ts';
import { PCPU_LOCK, type PcpuState } from './chunk.ts';
import type { ChunkRecords } from './backend.ts';
import { memFree } from './mem.ts';
import type { FailureHooks, LifecycleHooks } from './hooks.ts';
import type { WorkFunctions } from '../workqueue/workqueue.ts';

export { KERNELS, DEFAULT_KERNEL, type KernelVersion } from '../shm/config.ts';
import type { KernelVersion } from '../shm/config.ts';

/** What both generations' backends answer (pcpu_addr_to_page, as a page frame number). */
export interface AddrToPfn {
  addrToPfn(addr: number): number;
}

/** pcpu_alloc's static warn_limit starts at this, in both kernels. */
export const WARN_LIMIT = 10;

/** Work functions of the allocators (work->func of the items they own). */
export enum WorkFn { pcpu_reclaim, pcpu_balance_workfn, pcpu_map_extend_workfn }

export abstract class Allocator implements ChunkRecords, WorkFunctions {
  readonly st: PcpuState;
  abstract readonly kernel: KernelVersion;
  /** The err string of the last failed pcpuAlloc on this thread. */
  lastError = '';
  /** Did the last freePercpu call ask for the deferred work (reclaim, or balance)? */
  lastFreeScheduled = false;
  /**
   * A checker run on the chunk just changed, with pcpu_lock still held (the
   * only moment its map is consistent while other CPUs run).
   */
  indexCheck: ((cpu: Cpu, chunk: number) => void) | null = null;
  /** The pfn pcpu_chunk_addr_search last looked up (-1: an address range decided), for a report of what it found. */
  lookupPfn = -1;
  /** The failure checker, told when the allocator gives up for lack of room (checks on), or null. */
  failures: FailureHooks | null = null;
  /** The lifecycle checker, told before a chunk is freed (checks on), or null. */
  lifecycle: LifecycleHooks | null = null;

  constructor(st: PcpuState) {
    this.st = st;
  }

  /** The backend's page lookup (percpu-vm: vmalloc_to_page; percpu-km: virt_to_page). */
  protected abstract pages(): AddrToPfn;

  chunkAddr(chunk: number, cpuNr: number, page: number): number {
    return this.st.baseAddr(chunk) + this.st.unitOffset(cpuNr) + page * this.st.pageSize;
  }

  // ---- entry points: the checker learns which CPU is inside ----------------------
  /**
   * pcpu_alloc: `size` bytes aligned at `align` in every unit; returns the
   * percpu pointer (an address in unit 0's space) or 0 with lastError set.
   * `gfp` is 4.1's allocation mask (2.6.35 has none: every allocation may sleep).
   */
  pcpuAlloc(cpu: Cpu, size: number, align: number, reserved: boolean, gfp = GFP_KERNEL): number {
    const ck = this.st.ck;
    if (ck === null) return this.alloc(cpu, size, align, reserved, gfp);
    const outer = ck.cpu;
    ck.cpu = cpu;
    try {
      return this.alloc(cpu, size, align, reserved, gfp);
    } finally {
      ck.cpu = outer;
    }
  }

  /** free_percpu: free the area at `ptr`. CONTEXT: any, including hardirq. */
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

  /**
   * The function of a work item the allocator owns (2.6.35: pcpu_reclaim;
   * 4.1: pcpu_balance_workfn, a chunk's map extension), run by the worker
   * on `cpu`. `work` is the work item's address. Returns the creation
   * numbers of the chunks it destroyed, in destruction order.
   */
  workFn(cpu: Cpu, fn: number, work: number): number[] {
    const ck = this.st.ck;
    if (ck === null) return this.runWork(cpu, fn, work);
    const outer = ck.cpu;
    ck.cpu = cpu;
    try {
      return this.runWork(cpu, fn, work);
    } finally {
      ck.cpu = outer;
    }
  }

  workFnName(fn: number): string {
    return WorkFn[fn] ?? `work function ${fn}`;
  }

  /** per_cpu_ptr_to_phys(). */
  abstract perCpuPtrToPhys(cpu: Cpu, addr: number): number;

  protected abstract alloc(cpu: Cpu, size: number, align: number, reserved: boolean, gfp: number): number;
  protected abstract free(cpu: Cpu, ptr: number): void;
  protected abstract runWork(cpu: Cpu, fn: number, work: number): number[];

  // ---- chunk records ----------------------------------------------------------
  /** An empty chunk record and its first map (each generation initializes its map its own way). */
  abstract allocChunk(cpu: Cpu): number;

  /** pcpu_free_chunk: the record and its map. */
  freeChunk(cpu: Cpu, chunk: number): void {
    const st = this.st;
    this.lifecycle?.chunkDestroying(cpu, chunk);
    memFree(cpu, st, st.map(chunk), st.mapAlloc(chunk) * 4);
    st.ck?.chunkDestroyed(chunk);
    kfree(cpu, chunk);
  }

  /**
   * Is `chunk` still a chunk? A freed record is a use-after-free (what KASAN
   * would report on the first access); anything else is list corruption.
   */
  checkChunk(cpu: Cpu, chunk: number, what: string, walkSlot = -1): void {
    const st = this.st;
    if (chunk === st.firstChunk || chunk === st.reservedChunk) return;
    if (heapLive(st.shm, chunk, Tag.CHUNK)) return;
    if (chunk === 0) {
      cpu.report('page-fault', `BUG: unable to handle kernel NULL pointer dereference in ${what}`,
        `the chunk is NULL: ${this.lookupPfn >= 0 ? `page->index of pfn ${this.lookupPfn}, the page behind the address, is NULL (the page was mapped without its back-pointer to its chunk, or it was cleared)` : 'no chunk was found'}`,
        true, { page: this.lookupPfn });
    }
    const slot = st.headSlot(chunk);
    if (slot < 0) deadRecord(cpu, st.shm, chunk, 'the record', false, `the pcpu_chunk at w[${chunk}]`);
    cpu.report('list-corruption', `BUG: list walk in ${what} reached the head of pcpu_slot[${slot}]`,
      `a list head was taken for a chunk: the walk ${walkSlot >= 0 ? `of pcpu_slot[${walkSlot}] ` : ''}left the list it started on`,
      true, { head: slot, walkSlot });
  }



  /** percpu_stats on an allocation. CONTEXT: pcpu_lock. */
  statsAlloc(size: number): void {
    const st = this.st;
    st.bump(PC.NR_ALLOC);
    const cur = st.bump(PC.NR_CUR_ALLOC);
    if (cur > st.stat(PC.NR_MAX_ALLOC)) st.setStat(PC.NR_MAX_ALLOC, cur);
    const min = st.stat(PC.MIN_ALLOC_SIZE);
    if (min === 0 || size < min) st.setStat(PC.MIN_ALLOC_SIZE, size);
    if (size > st.stat(PC.MAX_ALLOC_SIZE)) st.setStat(PC.MAX_ALLOC_SIZE, size);
  }

  /** percpu_stats on a free. CONTEXT: pcpu_lock. */
  statsFree(): void {
    this.st.bump(PC.NR_DEALLOC);
    this.st.bump(PC.NR_CUR_ALLOC, -1);
  }

  /** A new chunk is numbered and counted (the harness's numbers, and percpu_stats). CONTEXT: pcpu_lock. */
  countNewChunk(chunk: number): void {
    const st = this.st;
    st.setSeq(chunk, st.harnessCount(PC.CHUNK_SEQ));
    st.harnessCount(PC.CHUNKS_CREATED);
    const n = st.bump(PC.NR_CHUNKS);
    if (n > st.stat(PC.NR_MAX_CHUNKS)) st.setStat(PC.NR_MAX_CHUNKS, n);
  }

  /**
   * pcpu_chunk_addr_search: first/reserved chunk by address range, any
   * other through the page -> chunk back-pointer.
   * CONTEXT: pcpu_lock.
   */
  chunkAddrSearch(cpu: Cpu, addr: number): number {
    const st = this.st;
    st.assertLocks(cpu, PCPU_LOCK);
    const first = st.firstChunk;
    const firstStart = st.baseAddr(first);
    this.lookupPfn = -1;
    if (addr >= firstStart && addr < firstStart + st.unitSize) {
      if (addr < firstStart + st.reservedLimit) return st.reservedChunk;
      return first;
    }
    // the address is relative to unit 0; look it up in this CPU's unit
    const a = addr + st.unitOffset(cpu.id < st.nrCpus ? cpu.id : 0);
    const pfn = this.pages().addrToPfn(a);
    if (pfn < 0) {
      cpu.report('page-fault', `BUG: unable to handle kernel NULL pointer dereference in pcpu_chunk_addr_search`,
        `no page behind percpu address ${addr.toString(16).padStart(8, '0')} (unit address ${a.toString(16)}): freed twice or never allocated?`);
    }
    this.lookupPfn = pfn;
    return st.pageChunk(pfn);
  }

  /** is_kernel_percpu_address(): inside some CPU's copy of the static percpu area (static variables only, in both kernels). */
  isKernelPercpuAddress(addr: number): boolean {
    const st = this.st;
    const base = st.baseAddrGlobal();
    const staticSize = st.staticSize();
    for (let c = 0; c < st.nrCpus; c++) {
      const start = base + st.unitOffset(c);
      if (addr >= start && addr < start + staticSize) return true;
    }
    return false;
  }
}
