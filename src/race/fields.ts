// The shared fields of mm/percpu.c and the locks that protect them: the one
// place that says which lock guards what (2.6.35's rules, from the
// CONTEXT comments and the locking comment above pcpu_alloc_mutex). The lock
// rules and the race detector (src/race/race.ts) both read this table, and
// every access the allocator makes goes through an accessor that names its
// field here (src/percpu/chunk.ts).

import { Lock } from '../sync/locks.ts';

/** The shared fields. Chunk fields come first, in their shadow order; then the globals, in theirs. */
export enum Fld {
  MAP, MAP_USED, FREE_SIZE, CONTIG_HINT, ENTRIES, POPULATED, // per chunk
  SLOTS, TEMP, STATS, WARN_LIMIT, // global
  PAGE_CHUNK, // per page: rules only (published to frees through the returned pointer)
  NR,
}

export const CHUNK_FIELDS = Fld.POPULATED + 1;
export const FIRST_GLOBAL = Fld.SLOTS;

const M = 1 << Lock.pcpu_alloc_mutex;
const P = 1 << Lock.pcpu_lock;

export interface FieldRule {
  name: string;
  /** Any one of these locks allows a read (0: no lock needed). */
  read: number;
  /** All of these locks are needed to write (0: no lock needed). */
  write: number;
  /** Tracked by the race detector. */
  race: boolean;
  /** Why a field needs no lock, or is not raced: every exemption has a reason. */
  why?: string;
}

export const FIELDS: readonly FieldRule[] = [
  { name: 'pcpu_chunk.map/map_alloc', read: P, write: P | M, race: true }, // extension holds both
  { name: 'pcpu_chunk.map_used', read: P, write: P, race: true },
  { name: 'pcpu_chunk.free_size', read: P, write: P, race: true },
  { name: 'pcpu_chunk.contig_hint', read: P, write: P, race: true },
  { name: 'pcpu_chunk.map[]', read: P, write: P, race: true },
  { name: 'pcpu_chunk.populated', read: M, write: M, race: true },
  { name: 'pcpu_slot[] lists', read: P, write: P, race: true },
  { name: 'pcpu temp pages array and bitmap', read: M, write: M, race: true },
  { name: 'percpu_stats counters', read: P, write: P, race: true },
  {
    name: 'pcpu_alloc warn_limit', read: 0, write: 0, race: false,
    why: 'a static rate limit that 2.6.35 reads and decrements with no lock, after pcpu_alloc_mutex is dropped: a lost update prints one ' +
      'warning more or less, which the warn-limit specification check bounds (owner: src/check/spec.ts)',
  },
  {
    name: 'page->index (pcpu_chunk back-pointer)', read: P | M, write: M, race: false,
    why: 'per page: the lock rules apply; not raced, because a free learns the page only through the pointer the allocation returned ' +
      '(published by pcpu_alloc_mutex and the caller), which no shadow per page would add to',
  },
];
