// The one accessor module of the allocator's shared state: mm/percpu.c's
// globals, chunk records, area maps, populated bitmaps, the temp buffer,
// the slot lists and page->index. Every read and write the allocator makes
// goes through a method here, and every method that touches a field the
// locking rules cover names it to the checker first (src/race/fields.ts
// says which lock guards what). What is not checked is declared so, with
// its reason: the boot-time constants (written once before any CPU runs,
// __read_mostly in the kernel) and the fields of a chunk that never change
// once it exists (its base address, data, sequence number).
//
// A chunk is a word index into shared memory: the payload of a heap object
// (dynamic chunks, kzalloc'ed like the kernel's) or a bootmem record (the
// first chunk and the reserved chunk). Its list node is its first two words
// [next, prev], so container_of() is the identity. Slot list heads are
// two-word nodes in the slot region: circular, sentinel-headed lists walked
// like list_for_each_entry, which is what makes a walk that strays into
// another list detectable (it reaches a head that is not its own).

import type { Layout, Shm } from '../shm/layout.ts';
import { C, C41, PC, PC41 } from './records.ts';
import { WK } from '../workqueue/records.ts';
import { MM, PG } from '../mm/records.ts';
import { Fld, type RaceChecker } from '../race/race.ts';
import type { Cpu } from '../sync/cpu.ts';
import { ObjectBounds } from '../mm/kasan.ts';

/**
 * memmove of n words within w. A loop, not copyWithin: on a SharedArrayBuffer
 * copyWithin takes V8's slow path (a runtime call, element by element with
 * relaxed atomics), several times slower for the few dozen words of a map.
 */
export function copyWords(w: Int32Array, to: number, from: number, n: number): void {
  if (to < from) for (let i = 0; i < n; i++) w[to + i] = w[from + i]!;
  else for (let i = n - 1; i >= 0; i--) w[to + i] = w[from + i]!;
}

export class PcpuState {
  readonly w: Int32Array;
  readonly L: Layout;
  /** The allocator's header block. */
  readonly h: number;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly nrCpus: number;
  // boot-time constants (the kernel's __read_mostly variables): not checked, never written after boot
  unitSize = 0;
  unitPages = 0;
  nrSlots = 0;
  nrUnits = 0;
  nrGroups = 0;
  firstChunk = 0;
  reservedChunk = 0;
  reservedLimit = 0;
  /**
   * The lock-discipline and race checker (checks on), or null. Every access
   * to a shared field below goes through it while a CPU is inside the
   * allocator (its `cpu` is set by the entry points).
   */
  ck: RaceChecker | null = null;

  /** 4.1 machines: where a chunk record's 4.1 fields start, and the 4.1 globals (0 on 2.6.35). */
  private readonly cx: number;
  private readonly px: number;

  constructor(readonly shm: Shm, pageSize: number, nrCpus: number) {
    this.w = shm.w;
    this.L = shm.L;
    this.h = shm.L.pc;
    this.cx = shm.L.chunkX;
    this.px = shm.L.pcx;
    this.heapFrees = shm.L.mm + MM.HEAP_FREES;
    this.mapB = new ObjectBounds(shm, this.heapFrees);
    this.pagesB = new ObjectBounds(shm, this.heapFrees);
    this.bitmapB = new ObjectBounds(shm, this.heapFrees);
    this.pageSize = pageSize;
    this.pageShift = 31 - Math.clz32(pageSize);
    this.nrCpus = nrCpus;
  }

  /** Re-read the boot-time constants after setupFirstChunk wrote them. */
  attach(): void {
    const w = this.w, h = this.h;
    this.unitSize = w[h + PC.UNIT_SIZE]!;
    this.unitPages = w[h + PC.UNIT_PAGES]!;
    this.nrSlots = w[h + PC.NR_SLOTS]!;
    this.nrUnits = w[h + PC.NR_UNITS]!;
    this.nrGroups = w[h + PC.NR_GROUPS]!;
    this.firstChunk = w[h + PC.FIRST_CHUNK]!;
    this.reservedChunk = w[h + PC.RESERVED_CHUNK]!;
    this.reservedLimit = w[h + PC.RESERVED_LIMIT]!;
    // a new boot: the heap starts over and its count of frees with it, so bounds cached in the
    // last run could match an object of another size at the same place
    this.mapB.forget();
    this.pagesB.forget();
    this.bitmapB.forget();
  }

  // ---- boot-time tables (read-only after boot) ----------------------------
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
  /** pcpu_base_addr. */
  baseAddrGlobal(): number {
    return this.w[this.h + PC.BASE_ADDR]!;
  }
  /** __per_cpu_end - __per_cpu_start. */
  staticSize(): number {
    return this.w[this.h + PC.STATIC_SIZE]!;
  }

  // ---- chunk fields (checked) ------------------------------------------------
  freeSize(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.FREE_SIZE, false);
    return this.w[c + C.FREE_SIZE]!;
  }
  setFreeSize(c: number, v: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.FREE_SIZE, true);
    this.w[c + C.FREE_SIZE] = v;
  }
  contigHint(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.CONTIG_HINT, false);
    return this.w[c + C.CONTIG_HINT]!;
  }
  setContigHint(c: number, v: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.CONTIG_HINT, true);
    this.w[c + C.CONTIG_HINT] = v;
  }
  mapUsed(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.MAP_USED, false);
    return this.w[c + C.MAP_USED]!;
  }
  setMapUsed(c: number, v: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.MAP_USED, true);
    this.w[c + C.MAP_USED] = v;
  }
  mapAlloc(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.MAP, false);
    return this.w[c + C.MAP_ALLOC]!;
  }
  map(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.MAP, false);
    return this.w[c + C.MAP]!;
  }
  /** Install a new map (pcpu_extend_area_map, a new chunk). */
  setMap(c: number, map: number, alloc: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.MAP, true);
    this.w[c + C.MAP] = map;
    this.w[c + C.MAP_ALLOC] = alloc;
  }

  // ---- chunk fields that never change once the chunk exists (not checked) ----
  // They are written only by the chunk's creator while the chunk is private
  // (see setCreated), and every later reader learned the chunk through a
  // checked access (a slot list, page->index, a lookup under pcpu_lock).
  baseAddr(c: number): number {
    return this.w[c + C.BASE_ADDR]!;
  }
  data(c: number): number {
    return this.w[c + C.DATA]!;
  }
  immutable(c: number): boolean {
    return this.w[c + C.IMMUTABLE] !== 0;
  }
  seq(c: number): number {
    return this.w[c + C.SEQ]!;
  }
  /** The backend's data and the base address of a chunk being created (its creator owns it). */
  setCreated(c: number, data: number, baseAddr: number): void {
    this.w[c + C.DATA] = data;
    this.w[c + C.BASE_ADDR] = baseAddr;
  }
  /** The creation number of a chunk being linked (still private to its creator). */
  setSeq(c: number, seq: number): void {
    this.w[c + C.SEQ] = seq;
  }
  /** A new chunk's record, claimed by its creator (an entity, or -1 at boot): private until it is linked. */
  claimChunk(c: number, owner: number): void {
    this.w[c + C.OWNER] = owner + 1;
  }

  // ---- map entries (checked, per access) -----------------------------------------------
  // A scan reads and writes one chunk's entries many times over in one context with the same
  // locks: the checker's answer is the same for each until its generation moves (a lock, an
  // interrupt, a completion, work, another context) or any heap object is freed (the chunk could
  // have died): then the next access is checked in full again. Each access is also held to the
  // bounds of the map object itself (KASAN, src/mm/kasan.ts): a compare against bounds cached
  // until the map changes or the heap frees anything.
  private readonly heapFrees: number;
  private rdChunk = -1;
  private rdGen = -1;
  private rdFrees = -1;
  private lastWriteChunk = -1;
  private lastWriteGen = -1;
  private lastWriteFrees = -1;
  /** Bounds of the last map, temp pages array and temp bitmap indexed (checks on). */
  private readonly mapB: ObjectBounds;
  private readonly pagesB: ObjectBounds;
  private readonly bitmapB: ObjectBounds;

  /** map[i] of chunk c, whose map is at m. */
  entry(c: number, m: number, i: number): number {
    const ck = this.ck;
    if (ck !== null) {
      const frees = this.frees();
      if (c !== this.rdChunk || ck.generation !== this.rdGen || frees !== this.rdFrees) {
        ck.chunkAccess(c, Fld.ENTRIES, false);
        this.rdChunk = ck.armed() ? c : -1;
        this.rdGen = ck.generation;
        this.rdFrees = frees;
      }
      const b = this.mapB;
      if (m !== b.base || (i >>> 0) >= b.words || frees !== b.frees) b.check(ck.cpu, m, i, 1, false);
    }
    return this.w[m + i]!;
  }
  // a plain read: a free another thread makes is seen at the latest at the chunk's next field
  // access, which checks the record itself
  private frees(): number {
    return this.w[this.heapFrees]!;
  }
  setEntry(c: number, m: number, i: number, v: number): void {
    const ck = this.ck;
    if (ck !== null) {
      const frees = this.frees();
      if (c !== this.lastWriteChunk || ck.generation !== this.lastWriteGen || frees !== this.lastWriteFrees) {
        ck.chunkAccess(c, Fld.ENTRIES, true);
        this.lastWriteChunk = ck.armed() ? c : -1;
        this.lastWriteGen = ck.generation;
        this.lastWriteFrees = frees;
      }
      const b = this.mapB;
      if (m !== b.base || (i >>> 0) >= b.words || frees !== b.frees) b.check(ck.cpu, m, i, 1, true);
    }
    this.w[m + i] = v;
  }
  /** memmove of n entries from map[from] to map[to] (one read and one write of the entries). */
  moveEntries(c: number, m: number, to: number, from: number, n: number): void {
    const ck = this.ck;
    if (ck !== null) {
      ck.chunkAccess(c, Fld.ENTRIES, false);
      ck.chunkAccess(c, Fld.ENTRIES, true);
      if (n > 0) {
        this.mapB.check(ck.cpu, m, from, n, false);
        this.mapB.check(ck.cpu, m, to, n, true);
      }
    }
    copyWords(this.w, m + to, m + from, n);
  }
  /**
   * memcpy of chunk c's first n entries into `dst`, memory the caller just allocated and nobody
   * else sees. The destination is checked first: a copy past its end is the write that corrupts.
   */
  copyEntriesOut(c: number, m: number, dst: number, n: number): void {
    const ck = this.ck;
    if (ck !== null) {
      ck.chunkAccess(c, Fld.ENTRIES, false);
      if (n > 0) {
        this.mapB.check(ck.cpu, dst, 0, n, true);
        this.mapB.check(ck.cpu, m, 0, n, false);
      }
    }
    copyWords(this.w, dst, m, n);
  }
  /** A fresh map's first entry, before the map is installed (nobody else sees it). */
  initMap(map: number, first: number): void {
    if (this.ck !== null) this.mapB.check(this.ck.cpu, map, 0, 1, true);
    this.w[map] = first;
  }

  // ---- the populated bitmap (checked) ------------------------------------------------
  populated(c: number, page: number): boolean {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.POPULATED, false);
    return ((this.w[c + C.POPULATED + (page >>> 5)]! >>> (page & 31)) & 1) !== 0;
  }
  /** find_next_bit / find_next_zero_bit over chunk c's populated bitmap. */
  nextPopulated(c: number, end: number, from: number, set: boolean): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.POPULATED, false);
    return nextBit(this.w, c + C.POPULATED, end, from, set);
  }
  /** bitmap_copy(temp bitmap, chunk->populated). */
  populatedToTemp(c: number, bitmap: number): void {
    if (this.ck !== null) {
      this.ck.chunkAccess(c, Fld.POPULATED, false);
      this.ck.access(0, Fld.TEMP, true);
      this.bitmapB.check(this.ck.cpu, bitmap, 0, this.L.bitmapWords, true);
    }
    const bm = c + C.POPULATED;
    for (let i = 0; i < this.L.bitmapWords; i++) this.w[bitmap + i] = this.w[bm + i]!;
  }
  /** bitmap_copy(chunk->populated, temp bitmap): commit what populate or depopulate did. */
  populatedFromTemp(c: number, bitmap: number): void {
    if (this.ck !== null) {
      this.ck.access(0, Fld.TEMP, false);
      this.ck.chunkAccess(c, Fld.POPULATED, true);
      this.bitmapB.check(this.ck.cpu, bitmap, 0, this.L.bitmapWords, false);
    }
    const bm = c + C.POPULATED;
    for (let i = 0; i < this.L.bitmapWords; i++) this.w[bm + i] = this.w[bitmap + i]!;
  }

  // ---- the temp pages array and bitmap (checked) ----------------------------------
  tempPages(): number {
    if (this.ck !== null) this.ck.access(0, Fld.TEMP, false);
    return this.w[this.h + PC.TEMP_PAGES]!;
  }
  tempBitmap(): number {
    if (this.ck !== null) this.ck.access(0, Fld.TEMP, false);
    return this.w[this.h + PC.TEMP_BITMAP]!;
  }
  setTempPages(p: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.TEMP, true);
    this.w[this.h + PC.TEMP_PAGES] = p;
  }
  setTempBitmap(p: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.TEMP, true);
    this.w[this.h + PC.TEMP_BITMAP] = p;
  }
  /** pages[i]: the pfn + 1 of a page being populated or depopulated (0: none). */
  tempPage(pages: number, i: number): number {
    const ck = this.ck;
    if (ck !== null) {
      ck.access(0, Fld.TEMP, false);
      const b = this.pagesB;
      if (pages !== b.base || (i >>> 0) >= b.words || this.frees() !== b.frees) b.check(ck.cpu, pages, i, 1, false);
    }
    return this.w[pages + i]!;
  }
  setTempPage(pages: number, i: number, v: number): void {
    const ck = this.ck;
    if (ck !== null) {
      ck.access(0, Fld.TEMP, true);
      const b = this.pagesB;
      if (pages !== b.base || (i >>> 0) >= b.words || this.frees() !== b.frees) b.check(ck.cpu, pages, i, 1, true);
    }
    this.w[pages + i] = v;
  }
  /** memset(pages, 0, n words). */
  clearTempPages(pages: number, n: number): void {
    if (this.ck !== null) {
      this.ck.access(0, Fld.TEMP, true);
      if (n > 0) this.pagesB.check(this.ck.cpu, pages, 0, n, true);
    }
    this.w.fill(0, pages, pages + n);
  }
  setTempBit(bitmap: number, i: number, v: boolean): void {
    const ck = this.ck;
    if (ck !== null) {
      ck.access(0, Fld.TEMP, true);
      const b = this.bitmapB;
      if (bitmap !== b.base || (i >>> 5) >= b.words || this.frees() !== b.frees) b.check(ck.cpu, bitmap, i >>> 5, 1, true);
    }
    setBit(this.w, bitmap, i, v);
  }
  /**
   * The single-owner check on the temp buffer (instrumentation, not kernel
   * state): claim it for `entity`; returns who held it (entity + 1) or 0.
   */
  claimTemp(entity: number): number {
    return Atomics.compareExchange(this.w, this.h + PC.TEMP_OWNER, 0, entity + 1);
  }
  releaseTemp(entity: number): void {
    Atomics.compareExchange(this.w, this.h + PC.TEMP_OWNER, entity + 1, 0);
  }

  // ---- page->index, the page -> chunk back-pointer (checked: rules) ---------------
  pageChunk(pfn: number): number {
    if (this.ck !== null) this.ck.access(0, Fld.PAGE_CHUNK, false);
    return this.w[this.L.pageDesc + pfn * PG.SIZE + PG.INDEX]!;
  }
  setPageChunk(pfn: number, chunk: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.PAGE_CHUNK, true);
    this.w[this.L.pageDesc + pfn * PG.SIZE + PG.INDEX] = chunk;
  }

  // ---- pcpu_alloc's warn_limit (declared: no lock, see src/race/fields.ts) --------
  warnLimit(): number {
    if (this.ck !== null) this.ck.access(0, Fld.WARN_LIMIT, false);
    return this.w[this.h + PC.WARN_LIMIT]!;
  }
  setWarnLimit(v: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.WARN_LIMIT, true);
    this.w[this.h + PC.WARN_LIMIT] = v;
  }

  // ---- percpu_stats and the chunk counters (checked: pcpu_lock) -------------------
  stat(f: PC): number {
    if (this.ck !== null) this.ck.access(0, Fld.STATS, false);
    return this.w[this.h + f]!;
  }
  setStat(f: PC, v: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.STATS, true);
    this.w[this.h + f] = v;
  }
  /** Count one more of `f`; returns the new value. */
  bump(f: PC, by = 1): number {
    if (this.ck !== null) this.ck.access(0, Fld.STATS, true);
    return (this.w[this.h + f] = this.w[this.h + f]! + by);
  }

  /**
   * The harness's own counters (chunks created and destroyed, reclaim runs,
   * creation numbers): instrumentation, not kernel state, so atomic and not
   * checked. Returns the value before.
   */
  harnessCount(f: PC): number {
    return Atomics.add(this.w, this.h + f, 1);
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
    // on a list, the chunk is shared
    this.w[node + C.OWNER] = 0;
  }
  /** list_del_init: unlink a chunk from its slot list; it now belongs to whoever unlinked it. */
  listDelInit(node: number, by: number): void {
    this.listDel(node);
    this.initListHead(node);
    this.w[node + C.OWNER] = by + 1;
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

  // ---- Linux 4.1's fields (only 4.1 machines have them) ----------------------------------
  /** chunk->first_free (pcpu_lock). */
  firstFree(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.FIRST_FREE, false);
    return this.w[c + this.cx + C41.FIRST_FREE]!;
  }
  setFirstFree(c: number, v: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.FIRST_FREE, true);
    this.w[c + this.cx + C41.FIRST_FREE] = v;
  }
  /** chunk->nr_populated. */
  nrPopulated(c: number): number {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.NR_POPULATED, false);
    return this.w[c + this.cx + C41.NR_POPULATED]!;
  }
  setNrPopulated(c: number, v: number): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.NR_POPULATED, true);
    this.w[c + this.cx + C41.NR_POPULATED] = v;
  }
  /**
   * bitmap_set / bitmap_clear of pages [start, start + n) in chunk->populated.
   * The bitmap is the record's last kernel field, BITS_TO_LONGS(unit_pages)
   * longs (Layout.bitmapWords): a bit past it is a write past the object
   * (the harness's words follow it), reported as KASAN would and not done.
   */
  setPopulatedBits(cpu: Cpu, c: number, start: number, n: number, v: boolean): void {
    if (this.ck !== null) this.ck.chunkAccess(c, Fld.POPULATED, true);
    const bits = this.L.bitmapWords * 32;
    if (start < 0 || start + n > bits) {
      const bad = Math.max(start, bits);
      cpu.report('out-of-bounds', `BUG: KASAN: slab-out-of-bounds in ${v ? 'bitmap_set' : 'bitmap_clear'}`,
        `Write of size 8 at bit ${bad} of pcpu_chunk.populated of the chunk at w[${c}] by ${cpu.name}: the bitmap holds ${bits} bits ` +
        `(BITS_TO_LONGS(pcpu_unit_pages = ${this.unitPages})), the write covers pages [${start}, ${start + n})`,
        true, { chunk: c, field: 'pcpu_chunk.populated', start, end: start + n, bits });
      return;
    }
    for (let i = start; i < start + n; i++) setBit(this.w, c + C.POPULATED, i, v);
  }
  /** The address of chunk c's embedded map_extend_work (fixed at creation: not checked). */
  extendWork(c: number): number {
    return c + this.cx + C41.MAP_EXTEND_WORK;
  }
  /** The chunk whose map_extend_work is at `work` (container_of). */
  workChunk(work: number): number {
    return work - this.cx - C41.MAP_EXTEND_WORK;
  }
  /**
   * list_empty(&pcpu_slot[pcpu_nr_slots - 1]) as pcpu_alloc asks it before
   * creating a chunk, under pcpu_alloc_mutex alone (a declared lockless
   * peek: src/race/fields.ts).
   */
  freeSlotEmptyPeek(): boolean {
    if (this.ck !== null) this.ck.access(0, Fld.FREE_SLOT_PEEK, false);
    const head = this.slotHead(this.nrSlots - 1);
    return this.w[head] === head;
  }
  /** pcpu_map_extend_chunks (fix map-extend-by-balance): its head. */
  mapExtendHead(): number {
    return this.px + PC41.MAP_EXTEND_CHUNKS;
  }
  /** Chunk c's map_extend_list node (fix map-extend-by-balance), after 4.1's map_extend_work. */
  mapExtendNode(c: number): number {
    return c + this.cx + C41.MAP_EXTEND_WORK + WK.SIZE;
  }
  /** The chunk whose map_extend_list is at `node` (container_of). */
  mapExtendChunk(node: number): number {
    return node - this.cx - C41.MAP_EXTEND_WORK - WK.SIZE;
  }
  /** list_empty on pcpu_map_extend_chunks or a chunk's node (pcpu_lock). */
  extListEmpty(node: number): boolean {
    if (this.ck !== null) this.ck.access(0, Fld.MAP_EXTEND_LIST, false);
    return this.w[node] === node;
  }
  /** The first node on the list at `head`, or 0 (list_first_entry_or_null). */
  extListFirst(head: number): number {
    if (this.ck !== null) this.ck.access(0, Fld.MAP_EXTEND_LIST, false);
    const first = this.w[head]!;
    return first === head ? 0 : first;
  }
  extListAddTail(node: number, head: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.MAP_EXTEND_LIST, true);
    const prev = this.w[head + 1]!;
    this.w[node] = head;
    this.w[node + 1] = prev;
    this.w[prev] = node;
    this.w[head + 1] = node;
  }
  extListDelInit(node: number): void {
    if (this.ck !== null) this.ck.access(0, Fld.MAP_EXTEND_LIST, true);
    const n = this.w[node]!, p = this.w[node + 1]!;
    this.w[n + 1] = p;
    this.w[p] = n;
    this.w[node] = node;
    this.w[node + 1] = node;
  }
  /** pcpu_nr_empty_pop_pages ("protected by pcpu_lock"). */
  nrEmptyPopPages(): number {
    if (this.ck !== null) this.ck.access(0, Fld.NR_EMPTY_POP_PAGES, false);
    return this.w[this.px + PC41.NR_EMPTY_POP_PAGES]!;
  }
  /** The store; returns the word it replaced (for the checkers: someone else's store since this CPU read it is an update lost). */
  setNrEmptyPopPages(v: number): number {
    if (this.ck !== null) this.ck.access(0, Fld.NR_EMPTY_POP_PAGES, true);
    return Atomics.exchange(this.w, this.px + PC41.NR_EMPTY_POP_PAGES, v);
  }
  /** pcpu_atomic_alloc_failed (declared: no lock, see src/race/fields.ts). */
  atomicAllocFailed(): boolean {
    if (this.ck !== null) this.ck.access(0, Fld.ATOMIC_ALLOC_FAILED, false);
    return this.w[this.px + PC41.ATOMIC_ALLOC_FAILED] !== 0;
  }
  setAtomicAllocFailed(v: boolean): void {
    if (this.ck !== null) this.ck.access(0, Fld.ATOMIC_ALLOC_FAILED, true);
    this.w[this.px + PC41.ATOMIC_ALLOC_FAILED] = v ? 1 : 0;
  }
  /** pcpu_async_enabled: __read_mostly, written once by an initcall before any CPU runs (not checked). */
  asyncEnabled(): boolean {
    return this.w[this.px + PC41.ASYNC_ENABLED] !== 0;
  }
  /** pcpu_low_unit_cpu / pcpu_high_unit_cpu: boot constants (not checked). */
  lowUnitCpu(): number {
    return this.w[this.px + PC41.LOW_UNIT_CPU]!;
  }
  highUnitCpu(): number {
    return this.w[this.px + PC41.HIGH_UNIT_CPU]!;
  }
  /** The harness's count of a 4.1 work function's runs (instrumentation: atomic, not checked). */
  harnessCount41(f: PC41): number {
    return Atomics.add(this.w, this.px + f, 1);
  }

  /** The map as a plain array, read raw (reports and tests, never the allocator). */
  mapArray(c: number): number[] {
    const m = this.w[c + C.MAP]!;
    return Array.from(this.w.subarray(m, m + this.w[c + C.MAP_USED]!));
  }
}

/** find_next_bit / find_next_zero_bit over a bitmap at word index `bm`. */
export function nextBit(w: Int32Array, bm: number, end: number, from: number, set: boolean): number {
  for (let i = from; i < end; i++) {
    const bit = ((w[bm + (i >>> 5)]! >>> (i & 31)) & 1) !== 0;
    if (bit === set) return i;
  }
  return end;
}

export function setBit(w: Int32Array, bm: number, i: number, v: boolean): void {
  const at = bm + (i >>> 5);
  if (v) w[at] = w[at]! | (1 << (i & 31));
  else w[at] = w[at]! & ~(1 << (i & 31));
}

/** fls(): the 1-based index of the most significant set bit, 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** Lock masks for assertLocks. */
export const MUTEX = 1 << 0; // Lock.pcpu_alloc_mutex
export const PCPU_LOCK = 1 << 1; // Lock.pcpu_lock
