// Lock discipline and data races on the allocator's shared state.
//
// Two checkers share one table of the shared fields of mm/percpu.c, each
// declared once with the locks that protect it:
//
// - lock rules (what lockdep_assert_held and the CONTEXT comments say): a
//   read needs one of the field's read locks, a write all of its write
//   locks, held in the accessing context (process context or the interrupt
//   being handled; a lock held by the interrupted context does not count).
//   This needs no particular interleaving: a missing lock shows on every run
//   that reaches the access.
// - a happens-before race detector in the manner of KCSAN's reports and
//   FastTrack's epochs: vector clocks per entity, passed along by lock
//   release/acquire, completions, interrupts raised and taken, and work
//   scheduled and run; two accesses to a field by different entities, at
//   least one a write, with no happens-before between them, are a data race.
//   The shadow keeps the last write and the last read of each field (a read
//   epoch, not a read vector clock: cheaper, and it can miss a race between
//   two older reads and a write, never invent one).
//
// Chunk fields are tracked per chunk; a chunk on no slot list (being created
// or being destroyed) is private to its creator or reclaimer and not checked,
// like Eraser's exclusive state. The reserved chunk is never on a list and is
// always shared. Nothing is checked while the system boots.

import { C, CHUNK_SHADOW_WORDS, H, MAX_LOCKS, MAX_OPS, SYSTEM_RUNNING, X, X_OPS, type Shm } from '../shm/layout.ts';
import { Cov, covSet } from '../shm/coverage.ts';
import { Lock, lockName } from '../sync/locks.ts';
import { siteName } from '../sync/sites.ts';
import type { Cpu, SyncHooks } from '../sync/cpu.ts';

/** The shared fields. Chunk fields come first, in their shadow order. */
export enum Fld {
  MAP, MAP_USED, FREE_SIZE, CONTIG_HINT, ENTRIES, POPULATED, // per chunk
  SLOTS, TEMP, // global
  PAGE_CHUNK, // per page: rules only (published to frees through the returned pointer)
  NR,
}

const M = 1 << Lock.pcpu_alloc_mutex;
const P = 1 << Lock.pcpu_lock;

interface FieldRule {
  name: string;
  /** Any one of these locks allows a read (0: no rule). */
  read: number;
  /** All of these locks are needed to write. */
  write: number;
  /** Tracked by the race detector. */
  race: boolean;
}

/** The one place that says which lock protects what (2.6.35's rules). */
export const FIELDS: readonly FieldRule[] = [
  { name: 'pcpu_chunk.map/map_alloc', read: P, write: P | M, race: true }, // extension holds both
  { name: 'pcpu_chunk.map_used', read: P, write: P, race: true },
  { name: 'pcpu_chunk.free_size', read: P, write: P, race: true },
  { name: 'pcpu_chunk.contig_hint', read: P, write: P, race: true },
  { name: 'pcpu_chunk.map[]', read: P, write: P, race: true },
  { name: 'pcpu_chunk.populated', read: M, write: M, race: true },
  { name: 'pcpu_slot[] lists', read: P, write: P, race: true },
  { name: 'pcpu temp pages array and bitmap', read: M, write: M, race: true },
  { name: 'page->index (pcpu_chunk back-pointer)', read: P | M, write: M, race: false },
];

const CHUNK_FIELDS = Fld.POPULATED + 1;
if (CHUNK_FIELDS * 4 > CHUNK_SHADOW_WORDS) throw new Error('chunk shadow too small');

/** Shadow words per field: [write clock, write tid|frames, read clock, read tid|frames]. */
const SW = 4;

function masksText(mask: number, all: boolean): string {
  const names: string[] = [];
  for (let l = 0; l < 32; l++) if (mask & (1 << l)) names.push(lockName(l));
  return names.length ? names.join(all ? ' and ' : ' or ') : 'nothing';
}

/** The three innermost functions of a CPU's operation stack, a byte each. */
function frames(w: Int32Array, x: number): number {
  const d = Math.min(w[x + X.OP_DEPTH]!, MAX_OPS);
  let f = 0;
  for (let i = 0; i < 3 && d - 1 - i >= 0; i++) f |= (w[x + X_OPS + d - 1 - i]! & 0xff) << (8 * i);
  return f;
}

function framesText(f: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const s = (f >>> (8 * i)) & 0xff;
    if (s) out.push(siteName(s));
  }
  return out;
}

/**
 * One thread's checker. `cpu` is the context inside the allocator right now
 * (set by the allocator's entry points); null means "not checking".
 */
export class RaceChecker implements SyncHooks {
  cpu: Cpu | null = null;
  private readonly w: Int32Array;
  private readonly E: number;
  private readonly vc: number;
  private readonly globals: number;
  private readonly shadowOff: number;
  private readonly h: number;
  /** (field, site, write) triples already reported in this run. */
  private readonly reported = new Set<number>();

  constructor(readonly shm: Shm) {
    this.w = shm.w;
    this.E = shm.L.nrEntities;
    this.vc = shm.L.vc;
    this.globals = shm.L.raceGlobals;
    this.shadowOff = C.POPULATED + shm.L.bitmapWords;
    this.h = shm.L.header;
  }

  /** A new run: report again what the last run reported. */
  reset(): void {
    this.reported.clear();
    this.cpu = null;
  }

  private running(): boolean {
    return this.w[this.h + H.SYSTEM_STATE] === SYSTEM_RUNNING;
  }

  // ---- vector clocks --------------------------------------------------------
  private row(obj: number): number {
    return this.vc + obj * this.E;
  }
  /** The sync object of a lock, an irq queue or a work item. */
  lockObj(lock: number): number {
    return this.E + lock;
  }
  irqObj(target: number): number {
    return this.E + MAX_LOCKS + target;
  }
  workObj(work: number): number {
    return 2 * this.E + MAX_LOCKS + work;
  }

  /** Acquire: the entity's clock joins the object's. */
  acquire(cpu: Cpu, obj: number): void {
    const w = this.w, me = this.row(cpu.id), o = this.row(obj);
    for (let i = 0; i < this.E; i++) if (w[o + i]! > w[me + i]!) w[me + i] = w[o + i]!;
  }
  /** Release of a lock: the object takes the entity's clock, which then ticks. */
  release(cpu: Cpu, obj: number): void {
    const w = this.w, me = this.row(cpu.id), o = this.row(obj);
    w[me + cpu.id]!++;
    for (let i = 0; i < this.E; i++) w[o + i] = w[me + i]!;
  }
  /** Release into an object many may signal (a completion, an irq queue, a work item). */
  releaseJoin(cpu: Cpu, obj: number): void {
    const w = this.w, me = this.row(cpu.id), o = this.row(obj);
    w[me + cpu.id]!++;
    for (let i = 0; i < this.E; i++) if (w[me + i]! > w[o + i]!) w[o + i] = w[me + i]!;
  }

  // ---- accesses --------------------------------------------------------------
  /** Shadow of a chunk field or a global. */
  private shadow(obj: number, f: Fld): number {
    return f < CHUNK_FIELDS ? obj + this.shadowOff + f * SW : this.globals + (f - Fld.SLOTS) * SW;
  }

  /** A read (`write` false) or write of field `f` of `obj` (a chunk, page or 0) by the current CPU. */
  access(obj: number, f: Fld, write: boolean): void {
    const cpu = this.cpu;
    if (cpu === null || !this.running()) return;
    const w = this.w;
    const rule = FIELDS[f]!;
    const mask = w[cpu.x + X.LOCKMASK]!;
    if (write ? (mask & rule.write) !== rule.write : rule.read !== 0 && (mask & rule.read) === 0) this.ruleBroken(cpu, f, write);
    if (!rule.race) return;
    const sh = this.shadow(obj, f);
    const me = this.row(cpu.id);
    const clock = w[me + cpu.id]! + 1;
    const mine = cpu.id + 1;
    // same epoch as this entity's last access of the same kind: nothing new to check
    if (write ? w[sh] === clock && (w[sh + 1]! & 0xff) === mine : (w[sh + 2] === clock && (w[sh + 3]! & 0xff) === mine) || (w[sh] === clock && (w[sh + 1]! & 0xff) === mine)) return;
    const lw = w[sh + 1]!;
    // novelty feedback: which function's write (on this entity or another) this read observed
    if (!write && lw !== 0 && w[this.h + H.COVERAGE] !== 0) covSet(w, this.shm.L, Cov.READS_FROM, f, (lw >>> 8) & 0xff, cpu.site(), (lw & 0xff) - 1 === cpu.id ? 1 : 0);
    if (lw !== 0) {
      const u = (lw & 0xff) - 1;
      if (u !== cpu.id && w[sh]! > w[me + u]!) this.race(cpu, obj, f, write, true, lw);
    }
    const tag = mine | (frames(w, cpu.x) << 8);
    if (write) {
      const lr = w[sh + 3]!;
      if (lr !== 0) {
        const u = (lr & 0xff) - 1;
        if (u !== cpu.id && w[sh + 2]! > w[me + u]!) this.race(cpu, obj, f, write, false, lr);
      }
      w[sh] = clock;
      w[sh + 1] = tag;
    } else {
      w[sh + 2] = clock;
      w[sh + 3] = tag;
    }
  }

  /** Is `chunk` shared (on a slot list, or the reserved chunk)? */
  shared(chunk: number, reserved: number): boolean {
    return this.w[chunk] !== chunk || chunk === reserved;
  }

  /**
   * lockdep_assert_held for each lock in `held`, and "must not hold" for
   * each in `notHeld`, in the current context, at the entry of `site`.
   */
  assertContext(cpu: Cpu, held: number, notHeld: number): void {
    if (!this.running() || this.cpu === null) return;
    const mask = this.w[cpu.x + X.LOCKMASK]!;
    if ((mask & held) === held && (mask & notHeld) === 0) return;
    const site = cpu.site();
    const key = -1 - site;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const missing = held & ~mask, extra = mask & notHeld;
    const what = missing ? `lockdep_assert_held(&${lockName(31 - Math.clz32(missing & -missing))})` : `${masksText(extra, true)} held`;
    cpu.report('lock-discipline', `WARNING: at mm/percpu.c:${siteName(site)}(): ${what}`,
      `${siteName(site)} runs with ${masksText(mask, true)} held; its CONTEXT needs ${masksText(held, true)}${notHeld ? ` and not ${masksText(notHeld, false)}` : ''}`,
      false, { field: null, function: siteName(site), need: masksText(held, true), forbid: masksText(notHeld, false) });
  }

  private ruleBroken(cpu: Cpu, f: Fld, write: boolean): void {
    const site = cpu.site();
    const key = (site << 8) | (f << 1) | (write ? 1 : 0);
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const rule = FIELDS[f]!;
    const fn = siteName(site);
    const mask = this.w[cpu.x + X.LOCKMASK]!;
    const need = write ? masksText(rule.write & ~mask, true) : masksText(rule.read, false);
    cpu.report('lock-discipline', 'WARNING: suspicious percpu data access',
      `mm/percpu.c:${fn}: ${write ? 'write to' : 'read of'} ${rule.name} without ${need}!\n\n` +
      `${rule.name} is protected by ${masksText(rule.read, false)} for reads and ${masksText(rule.write, true)} for writes.\n` +
      `other info that might help us debug this:\n`,
      false, { field: rule.name, function: fn, access: write ? 'write' : 'read', need, held: masksText(mask, true) }, true);
  }

  private race(cpu: Cpu, obj: number, f: Fld, write: boolean, otherWrite: boolean, otherTag: number): void {
    const other = (otherTag & 0xff) - 1;
    const otherFrames = framesText(otherTag >>> 8);
    const mine = frames(this.w, cpu.x);
    const key = 0x40000000 | (f << 24) | ((otherTag >>> 8) & 0xff) << 8 | (mine & 0xff);
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const rule = FIELDS[f]!;
    const where = f < CHUNK_FIELDS ? `${rule.name} of chunk w[${obj}]` : rule.name;
    const a = otherFrames[0] ?? '?', b = siteName(mine & 0xff);
    const otherName = other < cpu.host.nrCpus ? `cpu${other}` : 'kworker/0:1';
    cpu.report('data-race', `BUG: KCSAN: data-race in ${a < b ? `${a} / ${b}` : `${b} / ${a}`}`,
      `${otherWrite ? 'write' : 'read'} to ${where} of 4 bytes by task ${otherName} on cpu ${other}:\n` +
      otherFrames.map((s) => ` ${s}\n`).join('') +
      `\n${write ? 'write' : 'read'} to ${where} of 4 bytes by task ${cpu.name} on cpu ${cpu.id}:\n` +
      ' (stack below)\n\nno happens-before between the two accesses: no common lock, completion, interrupt or work item orders them\n',
      false, { field: rule.name, functions: [a, b], entities: [other, cpu.id] });
  }
}
