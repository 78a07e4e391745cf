// The shared fields of mm/percpu.c and the locks that protect them: the one
// place that says which lock guards what, a table per kernel (2.6.35's rules
// from its CONTEXT comments and the locking comment above pcpu_alloc_mutex;
// 4.1's from its own). The lock rules and the race detector
// (src/race/race.ts) both read the table of the kernel a machine boots, and
// every access the allocator makes goes through an accessor that names its
// field here (src/percpu/chunk.ts).

import { Lock } from '../sync/locks.ts';

/** The shared fields. Chunk fields come first, in their shadow order; then the globals, in theirs. */
export enum Fld {
  MAP, MAP_USED, FREE_SIZE, CONTIG_HINT, ENTRIES, POPULATED, FIRST_FREE, NR_POPULATED, // per chunk
  SLOTS, TEMP, STATS, WARN_LIMIT, NR_EMPTY_POP_PAGES, ATOMIC_ALLOC_FAILED, FREE_SLOT_PEEK, MAP_EXTEND_LIST, // global
  PAGE_CHUNK, // per page: rules only (published to frees through the returned pointer)
  NR,
}

export const CHUNK_FIELDS = Fld.NR_POPULATED + 1;
export const FIRST_GLOBAL = Fld.SLOTS;

const M = 1 << Lock.pcpu_alloc_mutex;
const P = 1 << Lock.pcpu_lock;

export interface FieldRule {
  name: string;
  /** Any one of these locks allows a read (0: no lock needed). */
  read: number;
  /** All of these locks are needed to write (0: no lock needed). */
  write: number;
  /**
   * Tracked by the race detector: true, false, or 'writes' (only writes
   * conflict: the kernel's reads of it are lockless heuristics by design,
   * KCSAN's data_race(); `why` says so).
   */
  race: boolean | 'writes';
  /** Why a field needs no lock, or is not raced: every exemption has a reason. */
  why?: string;
}

/** A field one kernel does not have: no code of that kernel can access it. */
function absent(name: string, kernel: string): FieldRule {
  return { name, read: 0, write: 0, race: false, why: `not a field of ${kernel}: no ${kernel} code accesses it` };
}

const WARN_LIMIT_RULE = (kernel: string, after: string): FieldRule => ({
  name: 'pcpu_alloc warn_limit', read: 0, write: 0, race: false,
  why: `a static rate limit that ${kernel} reads and decrements with no lock, ${after}: a lost update prints one ` +
    'warning more or less, which the warn-limit specification check bounds (owner: src/check/spec.ts)',
});

const PAGE_CHUNK_RULE: FieldRule = {
  name: 'page->index (pcpu_chunk back-pointer)', read: P | M, write: M, race: false,
  why: 'per page: the lock rules apply; not raced, because a free learns the page only through the pointer the allocation returned ' +
    '(published by pcpu_alloc_mutex and the caller), which no shadow per page would add to',
};

/** Linux 2.6.35's rules, indexed by Fld. */
export const FIELDS: readonly FieldRule[] = [
  { name: 'pcpu_chunk.map/map_alloc', read: P, write: P | M, race: true }, // extension holds both
  { name: 'pcpu_chunk.map_used', read: P, write: P, race: true },
  { name: 'pcpu_chunk.free_size', read: P, write: P, race: true },
  { name: 'pcpu_chunk.contig_hint', read: P, write: P, race: true },
  { name: 'pcpu_chunk.map[]', read: P, write: P, race: true },
  { name: 'pcpu_chunk.populated', read: M, write: M, race: true },
  absent('pcpu_chunk.first_free', '2.6.35'),
  absent('pcpu_chunk.nr_populated', '2.6.35'),
  { name: 'pcpu_slot[] lists', read: P, write: P, race: true },
  { name: 'pcpu temp pages array and bitmap', read: M, write: M, race: true },
  { name: 'percpu_stats counters', read: P, write: P, race: true },
  WARN_LIMIT_RULE('2.6.35', 'after pcpu_alloc_mutex is dropped'),
  absent('pcpu_nr_empty_pop_pages', '2.6.35'),
  absent('pcpu_atomic_alloc_failed', '2.6.35'),
  absent('list_empty(&pcpu_slot[pcpu_nr_slots - 1])', '2.6.35'),
  absent('pcpu_map_extend_chunks list', '2.6.35'),
  PAGE_CHUNK_RULE,
];

/**
 * Linux 4.1's rules, indexed by Fld, from its own words: pcpu_lock guards
 * "all internal data structures"; pcpu_alloc_mutex guards "chunk
 * create/destroy, [de]pop"; pcpu_nr_empty_pop_pages is "protected by
 * pcpu_lock"; pcpu_chunk_populated/_depopulated lockdep_assert_held(pcpu_lock)
 * and run under the mutex ([de]population); pcpu_get_pages
 * lockdep_assert_held(pcpu_alloc_mutex); pcpu_extend_area_map switches maps
 * under pcpu_lock alone ("Grabs and releases pcpu_lock").
 */
export const FIELDS_41: readonly FieldRule[] = [
  { name: 'pcpu_chunk.map/map_alloc', read: P, write: P, race: true },
  { name: 'pcpu_chunk.map_used', read: P, write: P, race: true },
  { name: 'pcpu_chunk.free_size', read: P, write: P, race: true },
  { name: 'pcpu_chunk.contig_hint', read: P, write: P, race: true },
  { name: 'pcpu_chunk.map[]', read: P, write: P, race: true },
  // read under pcpu_lock by atomic allocations (pcpu_fit_in_area), under the mutex by population
  { name: 'pcpu_chunk.populated', read: P | M, write: P | M, race: true },
  { name: 'pcpu_chunk.first_free', read: P, write: P, race: true },
  { name: 'pcpu_chunk.nr_populated', read: P | M, write: P | M, race: true },
  { name: 'pcpu_slot[] lists', read: P, write: P, race: true },
  { name: 'pcpu temp pages array', read: M, write: M, race: true },
  { name: 'percpu_stats counters', read: P, write: P, race: true },
  WARN_LIMIT_RULE('4.1', 'on the failure path with no lock held'),
  {
    name: 'pcpu_nr_empty_pop_pages', read: 0, write: P, race: 'writes',
    why: '"protected by pcpu_lock" for updates (4.1\'s comment); 4.1 reads it with no lock as a heuristic, in pcpu_alloc (whether to kick the ' +
      'balance work) and in pcpu_balance_workfn (how many pages to populate, under pcpu_alloc_mutex only): a stale value asks for the work once ' +
      'more or less, or populates a page more or less, which the empty-pop-pages invariant and the progress check bound (owner: src/check/4.1/)',
  },
  {
    name: 'pcpu_atomic_alloc_failed', read: 0, write: 0, race: false,
    why: '4.1 sets it with no lock after an atomic allocation failed and pcpu_balance_workfn clears it with no lock: "best effort anyway, ' +
      'don\'t worry about synchronization" (its own comment); a lost update delays one urgent refill, which the balance progress check bounds ' +
      '(owner: src/check/4.1/leak.ts)',
  },
  {
    name: 'list_empty(&pcpu_slot[pcpu_nr_slots - 1])', read: M, write: P, race: false,
    why: 'pcpu_alloc asks whether a fully free chunk exists with pcpu_alloc_mutex held and pcpu_lock not, before it creates one: a lockless ' +
      'peek at one list head word (READ_ONCE in list_empty since 4.4) that free_percpu and the balance work change under pcpu_lock alone. ' +
      'A stale answer creates one chunk too many (the balance work frees it) or restarts the walk and asks again; the mutex keeps two ' +
      'allocations from creating at once. Every other read of the slot lists holds pcpu_lock (owner: src/check/4.1/spec.ts, no-needless-chunk ' +
      'is not claimed for 4.1 for this reason)',
  },
  // 4f996e234dad's list (fix map-extend-by-balance): "protected by pcpu_lock"
  { name: 'pcpu_map_extend_chunks list', read: P, write: P, race: true },
  PAGE_CHUNK_RULE,
];

if (FIELDS.length !== Fld.NR || FIELDS_41.length !== Fld.NR) throw new Error('a field table does not cover every field');
