// Accessors for the allocator's shared state: the mm/percpu.c globals in the
// header, chunk records, and the slot lists.
//
// A chunk is a word index into shared memory: the payload of a heap object
// (dynamic chunks, kzalloc'ed like the kernel's) or a bootmem record (the
// first chunk and the reserved chunk). Its list node is its first two words
// [next, prev], so container_of() is the identity. Slot list heads are
// two-word nodes in the slot region: circular, sentinel-headed lists walked
// like list_for_each_entry, which is what makes a walk that strays into
// another list detectable (it reaches a head that is not its own).

import { C, H, type Layout, type Shm } from '../shm/layout.ts';
import { Fld, type RaceChecker } from '../race/race.ts';
import type { Cpu } from '../sync/cpu.ts';

export class PcpuState {
  readonly w: Int32Array;
  readonly L: Layout;
  readonly h: number;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly nrCpus: number;
  // boot-time constants (the kernel's __read_mostly variables)
  unitSize = 0;
  unitPages = 0;
  nrSlots = 0;
  nrUnits = 0;
  nrGroups = 0;
  /**
   * The lock-discipline and race checker (checks on), or null. Every access
   * to a shared field below goes through it while a CPU is inside the
   * allocator (its `cpu` is set by the entry points).
   */
  ck: RaceChecker | null = null;

  constructor(readonly shm: Shm, pageSize: number, nrCpus: number) {
    this.w = shm.w;
    this.L = shm.L;
    this.h = shm.L.header;
    this.pageSize = pageSize;
    this.pageShift = 31 - Math.clz32(pageSize);
    this.nrCpus = nrCpus;
  }

  /** Re-read the boot-time constants after setupFirstChunk wrote them. */
  attach(): void {
    const w = this.w, h = this.h;
    this.unitSize = w[h + H.UNIT_SIZE]!;
    this.unitPages = w[h + H.UNIT_PAGES]!;
    this.nrSlots = w[h + H.NR_SLOTS]!;
    this.nrUnits = w[h + H.NR_UNITS]!;
    this.nrGroups = w[h + H.NR_GROUPS]!;
  }

  get firstChunk(): number {
    return this.w[this.h + H.FIRST_CHUNK]!;
  }
  get reservedChunk(): number {
    return this.w[this.h + H.RESERVED_CHUNK]!;
  }
  get reservedLimit(): number {
    return this.w[this.h + H.RESERVED_LIMIT]!;
  }
  unitMap(cpu: number): number {
    return this.w[this.L.unitMap + cpu]!;
  }
  unitOffset(cpu: number): number {
    return this.w[this.L.unitOff + cpu]!;
  }
  groupOffset(g: number): number {
    return this.w[this.L.groupOff + g]!;
  }
  groupSize(g: number): number {
    return this.w[this.L.groupSize + g]!;
  }

  // ---- chunk fields (checked: see src/race) -------------------------------
  private chk(c: number, f: Fld, write: boolean): void {
    const k = this.ck!;
    if (k.cpu !== null && (this.w[c] !== c || c === this.w[this.h + H.RESERVED_CHUNK])) k.access(c, f, write);
  }
  freeSize(c: number): number {
    if (this.ck !== null) this.chk(c, Fld.FREE_SIZE, false);
    return this.w[c + C.FREE_SIZE]!;
  }
  setFreeSize(c: number, v: number): void {
    if (this.ck !== null) this.chk(c, Fld.FREE_SIZE, true);
    this.w[c + C.FREE_SIZE] = v;
  }
  contigHint(c: number): number {
    if (this.ck !== null) this.chk(c, Fld.CONTIG_HINT, false);
    return this.w[c + C.CONTIG_HINT]!;
  }
  setContigHint(c: number, v: number): void {
    if (this.ck !== null) this.chk(c, Fld.CONTIG_HINT, true);
    this.w[c + C.CONTIG_HINT] = v;
  }
  /** Immutable once the chunk exists. */
  baseAddr(c: number): number {
    return this.w[c + C.BASE_ADDR]!;
  }
  mapUsed(c: number): number {
    if (this.ck !== null) this.chk(c, Fld.MAP_USED, false);
    return this.w[c + C.MAP_USED]!;
  }
  setMapUsed(c: number, v: number): void {
    if (this.ck !== null) this.chk(c, Fld.MAP_USED, true);
    this.w[c + C.MAP_USED] = v;
  }
  mapAlloc(c: number): number {
    if (this.ck !== null) this.chk(c, Fld.MAP, false);
    return this.w[c + C.MAP_ALLOC]!;
  }
  map(c: number): number {
    if (this.ck !== null) this.chk(c, Fld.MAP, false);
    return this.w[c + C.MAP]!;
  }
  /** Install a new map (pcpu_extend_area_map). */
  setMap(c: number, map: number, alloc: number): void {
    if (this.ck !== null) this.chk(c, Fld.MAP, true);
    this.w[c + C.MAP] = map;
    this.w[c + C.MAP_ALLOC] = alloc;
  }
  /** The map entries as a whole were read (or written) by the current function. */
  touchEntries(c: number, write: boolean): void {
    if (this.ck !== null) this.chk(c, Fld.ENTRIES, write);
  }
  /** The populated bitmap was read (or written) by the current function. */
  touchPopulated(c: number, write: boolean): void {
    if (this.ck !== null) this.chk(c, Fld.POPULATED, write);
  }
  /** The shared temp pages array and bitmap were read (or written). */
  touchTemp(write: boolean): void {
    if (this.ck !== null) this.ck.access(0, Fld.TEMP, write);
  }
  /** A page's back-pointer to its chunk was read (or written). */
  touchPageChunk(write: boolean): void {
    if (this.ck !== null) this.ck.access(0, Fld.PAGE_CHUNK, write);
  }
  immutable(c: number): boolean {
    return this.w[c + C.IMMUTABLE] !== 0;
  }
  seq(c: number): number {
    return this.w[c + C.SEQ]!;
  }
  /** The map as a plain array (reports, traces, tests). */
  mapArray(c: number): number[] {
    const m = this.w[c + C.MAP]!;
    return Array.from(this.w.subarray(m, m + this.w[c + C.MAP_USED]!));
  }

  // ---- populated bitmap ----------------------------------------------------
  populated(c: number, page: number): boolean {
    return ((this.w[c + C.POPULATED + (page >>> 5)]! >>> (page & 31)) & 1) !== 0;
  }
  /** find_next_bit / find_next_zero_bit over a bitmap at word index `bm`. */
  nextBit(bm: number, end: number, from: number, set: boolean): number {
    for (let i = from; i < end; i++) {
      const bit = ((this.w[bm + (i >>> 5)]! >>> (i & 31)) & 1) !== 0;
      if (bit === set) return i;
    }
    return end;
  }
  setBit(bm: number, i: number, v: boolean): void {
    const at = bm + (i >>> 5);
    if (v) this.w[at] = this.w[at]! | (1 << (i & 31));
    else this.w[at] = this.w[at]! & ~(1 << (i & 31));
  }

  // ---- slots -----------------------------------------------------------------
  slotHead(slot: number): number {
    return this.L.slots + slot * 2;
  }
  /** Is this node one of the slot list heads? Returns its slot or -1. */
  headSlot(node: number): number {
    const d = node - this.L.slots;
    return d >= 0 && d < this.nrSlots * 2 && (d & 1) === 0 ? d >> 1 : -1;
  }

  /**
   * lockdep_assert_held(): the current context holds every lock in `held`
   * and none in `notHeld` (masks, a bit per lock). Checks on only.
   */
  assertLocks(cpu: Cpu, held: number, notHeld = 0): void {
    if (this.ck !== null) this.ck.assertContext(cpu, held, notHeld);
  }

  // ---- list_head operations (the slot lists: checked) ------------------------
  next(node: number): number {
    if (this.ck !== null) this.ck.access(0, Fld.SLOTS, false);
    return this.w[node]!;
  }
  prev(node: number): number {
    if (this.ck !== null) this.ck.access(0, Fld.SLOTS, false);
    return this.w[node + 1]!;
  }
  /** INIT_LIST_HEAD of a node nobody else can see yet (boot, a new chunk). */
  initListHead(node: number): void {
    this.w[node] = node;
    this.w[node + 1] = node;
  }
  listEmpty(head: number): boolean {
    if (this.ck !== null) this.ck.access(0, Fld.SLOTS, false);
    return this.w[head] === head;
  }
  private listDel(node: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.SLOTS, true);
    const n = this.w[node]!, p = this.w[node + 1]!;
    this.w[n + 1] = p;
    this.w[p] = n;
  }
  private insertBetween(node: number, prev: number, next: number): void {
    this.w[next + 1] = node;
    this.w[node] = next;
    this.w[node + 1] = prev;
    this.w[prev] = node;
  }
  /** list_del_init: unlink a chunk from its slot list. */
  listDelInit(node: number): void {
    this.listDel(node);
    this.initListHead(node);
  }
  /** list_move: unlink and add right after `head`. */
  listMove(node: number, head: number): void {
    this.listDel(node);
    this.insertBetween(node, head, this.w[head]!);
  }
  /** list_move_tail: unlink and add right before `head`. */
  listMoveTail(node: number, head: number): void {
    this.listDel(node);
    this.insertBetween(node, this.w[head + 1]!, head);
  }
}

/** fls(): the 1-based index of the most significant set bit, 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** Lock masks for assertLocks. */
export const MUTEX = 1 << 0; // Lock.pcpu_alloc_mutex
export const PCPU_LOCK = 1 << 1; // Lock.pcpu_lock
