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

  // ---- chunk fields --------------------------------------------------------
  freeSize(c: number): number {
    return this.w[c + C.FREE_SIZE]!;
  }
  contigHint(c: number): number {
    return this.w[c + C.CONTIG_HINT]!;
  }
  baseAddr(c: number): number {
    return this.w[c + C.BASE_ADDR]!;
  }
  mapUsed(c: number): number {
    return this.w[c + C.MAP_USED]!;
  }
  mapAlloc(c: number): number {
    return this.w[c + C.MAP_ALLOC]!;
  }
  map(c: number): number {
    return this.w[c + C.MAP]!;
  }
  immutable(c: number): boolean {
    return this.w[c + C.IMMUTABLE] !== 0;
  }
  seq(c: number): number {
    return this.w[c + C.SEQ]!;
  }
  /** The map as a plain array (reports, traces, tests). */
  mapArray(c: number): number[] {
    const m = this.map(c);
    return Array.from(this.w.subarray(m, m + this.mapUsed(c)));
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

  // ---- list_head operations -------------------------------------------------
  next(node: number): number {
    return this.w[node]!;
  }
  prev(node: number): number {
    return this.w[node + 1]!;
  }
  initListHead(node: number): void {
    this.w[node] = node;
    this.w[node + 1] = node;
  }
  listEmpty(head: number): boolean {
    return this.w[head] === head;
  }
  private listDel(node: number): void {
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
