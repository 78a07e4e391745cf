// Lock discipline and data races on the allocator's shared state.
//
// Two checkers share one table of the shared fields (src/race/fields.ts):
//
// - lock rules (what lockdep_assert_held and the CONTEXT comments say): a
//   read needs one of the field's read locks, a write all of its write
//   locks, held in the accessing context (the task, or the interrupt being
//   handled; a lock held by the interrupted context does not count). This
//   needs no particular interleaving: a missing lock shows on every run
//   that reaches the access.
// - a happens-before race detector in the manner of KCSAN's reports and
//   FastTrack's epochs. Clocks are kept per context: every CPU has a task
//   context and an interrupt context, so a handler races with the code it
//   interrupted unless that code had irqs off. Clocks pass along lock
//   release/acquire, completions, local_irq_disable/enable against the
//   CPU's own handlers, each raised interrupt (its own clock, the raiser's
//   at the moment it raised it), and work requests served by a run of the
//   work (a real pending -> running transition), and from finished runs to
//   flush_work. Two accesses to a field by different contexts, at least one
//   a write, with no happens-before between them, are a data race. The
//   shadow keeps the last write and the last read of each field (a read
//   epoch, not a read vector clock: cheaper, and it can miss a race between
//   two older reads and a write, never invent one).
//
// Chunk fields are tracked per chunk. A chunk on no slot list has an owner
// (src/percpu/records.ts, C.OWNER: its creator until it is linked, its
// reclaimer once it is unlinked); the owner's task accesses it privately and
// is not checked, every other context is. A destroyed chunk is dead: any
// access to it is a use-after-free, reported before anything reads its
// (poisoned) record. Nothing is checked while the system boots.

import type { Shm } from '../shm/layout.ts';
import { RUN, SYSTEM_RUNNING } from '../run/records.ts';
import { C } from '../percpu/records.ts';
import { HEAP_ALLOC, HO, MM } from '../mm/records.ts';
import { CK, GRAVE_WORDS, MAX_GRAVE } from '../check/records.ts';
import { IRQ_QUEUE, MAX_LOCKS, MAX_OPS, X, X_OPS } from '../sync/records.ts';
import { framesText, packFrames as frames } from '../sync/frames.ts';
import { CHUNK_SHADOW_WORDS, raceGlobalWords } from './records.ts';
import { Cov, covSet } from '../shm/coverage.ts';
import { lockName } from '../sync/locks.ts';
import { siteName } from '../sync/sites.ts';
import type { Cpu } from '../sync/cpu.ts';
import type { SyncHooks } from '../sync/hooks.ts';
import { CHUNK_FIELDS, FIELDS, FIELDS_41, FIRST_GLOBAL, Fld, type FieldRule } from './fields.ts';

export { Fld, FIELDS, FIELDS_41 } from './fields.ts';


/** The rule table of the kernel a machine boots. */
export function fieldRules(kernel: string): readonly FieldRule[] {
  return kernel === '4.1' ? FIELDS_41 : FIELDS;
}

/** Shadow words per field: [write clock, write ctx|frames, read clock, read ctx|frames, write check, read check] (entry()). */
const SW = 6;
if (CHUNK_FIELDS * SW > CHUNK_SHADOW_WORDS) throw new Error('chunk shadow too small');
for (const k of ['2.6.35', '4.1']) {
  const raced = fieldRules(k).reduce((n, r, f) => (f >= FIRST_GLOBAL && f < Fld.PAGE_CHUNK && r.race ? Math.max(n, f - FIRST_GLOBAL + 1) : n), 0);
  if (raced * SW > raceGlobalWords(k)) throw new Error(`global shadow too small for ${k}`);
}

/** A shadow entry's check word: a 32-bit hash of its clock and tag (entry()), so that no mix of records passes for one. */
export function shadowCheck(clock: number, tag: number): number {
  const h = Math.imul(clock ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(tag ^ 0x7f4a7c15, 0xc2b2ae35);
  return h ^ (h >>> 15);
}

function masksText(mask: number, all: boolean): string {
  const names: string[] = [];
  for (let l = 0; l < 32; l++) if (mask & (1 << l)) names.push(lockName(l));
  return names.length ? names.join(all ? ' and ' : ' or ') : 'nothing';
}

/**
 * One thread's checker. `cpu` is the context inside the allocator right now
 * (set by the allocator's entry points); null means "not checking".
 */
export class RaceChecker implements SyncHooks {
  private cur: Cpu | null = null;
  /** The context inside the allocator now; a new one starts a new generation of cached checks. */
  get cpu(): Cpu | null {
    return this.cur;
  }
  set cpu(c: Cpu | null) {
    this.cur = c;
    this.gen++;
  }
  /** Cached checks are valid while this is unchanged (and no heap object was freed: see PcpuState.entry). */
  get generation(): number {
    return this.gen;
  }
  /** Is an access checked now (a context inside the allocator, the system running)? */
  armed(): boolean {
    return this.cur !== null && this.running();
  }
  private readonly w: Int32Array;
  /** Entities, and clock components (a task and an interrupt context per entity). */
  private readonly E: number;
  private readonly V: number;
  private readonly vc: number;
  private readonly globals: number;
  private readonly shadowOff: number;
  private readonly run: number;
  private readonly arenaLo: number;
  private readonly arenaHi: number;
  // first rows of each kind of sync object
  private readonly lockRow: number;
  private readonly flagRow: number;
  private readonly workRow: number;
  private readonly doneRow: number;
  private readonly irqRow: number;
  /** Reports already made in this run (each distinct violation once). */
  private readonly reported = new Set<string>();
  /**
   * The last access checked, and the generation it was checked in: every
   * event that changes a clock (a lock, a completion, an interrupt, work)
   * starts a new generation. The same access again in the same generation,
   * with the same locks held, is the same-epoch case of FastTrack (nothing
   * new to check), answered without reading the shadow: a scan of a map's
   * entries is one check, not one per entry.
   */
  private gen = 1;
  /** Per field and kind (f * 2 + write): the object, generation and locks of its last check. */
  private readonly lastObj = new Int32Array(FIELDS.length * 2).fill(-1);
  private readonly lastGen = new Int32Array(FIELDS.length * 2);
  private readonly lastMask = new Int32Array(FIELDS.length * 2);
  private readonly lastFrees = new Int32Array(FIELDS.length * 2);
  /** The heap's count of frees (a chunk record can only die by one). */
  private readonly heapFrees: number;
  /** The machine's kernel's rules, and as flat tables for the access path. */
  private readonly rules: readonly FieldRule[];
  private readonly READ_NEEDS: Int32Array;
  private readonly WRITE_NEEDS: Int32Array;
  private readonly RACES: Uint8Array;

  constructor(readonly shm: Shm) {
    const L = shm.L;
    this.w = shm.w;
    this.E = L.nrEntities;
    this.V = L.vcWidth;
    this.vc = L.vc;
    this.globals = L.raceGlobals;
    this.shadowOff = C.POPULATED + L.bitmapWords;
    this.run = L.run;
    this.arenaLo = L.heapArena + HO.SIZE;
    this.arenaHi = L.heapArena + L.heapWords;
    this.heapFrees = L.mm + MM.HEAP_FREES;
    this.rules = fieldRules(L.kernel);
    this.READ_NEEDS = Int32Array.from(this.rules, (r) => r.read);
    this.WRITE_NEEDS = Int32Array.from(this.rules, (r) => r.write);
    this.RACES = Uint8Array.from(this.rules, (r) => (r.race === 'writes' ? 2 : r.race ? 1 : 0));
    this.lockRow = this.V;
    this.flagRow = this.lockRow + MAX_LOCKS;
    this.workRow = this.flagRow + this.E;
    this.doneRow = this.workRow + L.nrWorkIds;
    this.irqRow = this.doneRow + L.nrWorkIds;
  }

  /** A new run: report again what the last run reported. */
  reset(): void {
    this.reported.clear();
    this.cpu = null;
  }

  private running(): boolean {
    return this.w[this.run + RUN.SYSTEM_STATE] === SYSTEM_RUNNING;
  }

  // ---- vector clocks --------------------------------------------------------
  /** The clock component of what runs on `cpu` now: its task, or its interrupt handler. */
  ctx(cpu: Cpu): number {
    return cpu.inIrq() ? this.E + cpu.id : cpu.id;
  }
  private row(r: number): number {
    return this.vc + r * this.V;
  }
  /** The context's clock joins row `r`. */
  private join(me: number, r: number): void {
    const w = this.w, a = this.row(me), o = this.row(r);
    for (let i = 0; i < this.V; i++) if (w[o + i]! > w[a + i]!) w[a + i] = w[o + i]!;
  }
  /** Row `r` becomes the context's clock, which then ticks. */
  private publish(me: number, r: number): void {
    const w = this.w, a = this.row(me), o = this.row(r);
    w[a + me]!++;
    for (let i = 0; i < this.V; i++) w[o + i] = w[a + i]!;
  }
  /** The context's clock joins into row `r` (many may signal it), and ticks. */
  private publishJoin(me: number, r: number): void {
    const w = this.w, a = this.row(me), o = this.row(r);
    w[a + me]!++;
    for (let i = 0; i < this.V; i++) if (w[a + i]! > w[o + i]!) w[o + i] = w[a + i]!;
  }
  private clear(r: number): void {
    this.w.fill(0, this.row(r), this.row(r) + this.V);
  }

  lockAcquired(cpu: Cpu, lock: number): void {
    this.gen++;
    this.join(this.ctx(cpu), this.lockRow + lock);
  }
  lockReleased(cpu: Cpu, lock: number): void {
    this.gen++;
    this.publish(this.ctx(cpu), this.lockRow + lock);
  }
  completed(cpu: Cpu, c: number): void {
    this.gen++;
    this.publishJoin(this.ctx(cpu), this.lockRow + c);
  }
  completionWaited(cpu: Cpu, c: number): void {
    this.gen++;
    this.join(this.ctx(cpu), this.lockRow + c);
  }
  irqFlag(cpu: Cpu, disable: boolean): void {
    this.gen++;
    // the task's irqs-off sections and its CPU's handlers exclude each other, like a lock
    if (disable) this.join(cpu.id, this.flagRow + cpu.id);
    else this.publish(cpu.id, this.flagRow + cpu.id);
  }
  irqRaised(cpu: Cpu, target: number, slot: number): void {
    this.gen++;
    this.publish(this.ctx(cpu), this.irqRow + target * IRQ_QUEUE + slot);
  }
  irqEnter(cpu: Cpu, slot: number): void {
    this.gen++;
    const me = this.E + cpu.id;
    this.join(me, this.irqRow + cpu.id * IRQ_QUEUE + slot);
    this.join(me, this.flagRow + cpu.id);
  }
  irqExit(cpu: Cpu): void {
    this.gen++;
    this.publish(this.E + cpu.id, this.flagRow + cpu.id);
  }
  workRequested(cpu: Cpu, work: number): void {
    this.gen++;
    this.publishJoin(this.ctx(cpu), this.workRow + work);
  }
  workStarted(cpu: Cpu, work: number): void {
    this.gen++;
    const me = this.ctx(cpu);
    this.join(me, this.workRow + work);
    // the requests this run serves are behind it; later ones are for a later run
    this.clear(this.workRow + work);
  }
  workEnded(cpu: Cpu, work: number): void {
    this.gen++;
    this.publishJoin(this.ctx(cpu), this.doneRow + work);
  }
  workFlushed(cpu: Cpu, work: number): void {
    this.gen++;
    this.join(this.ctx(cpu), this.doneRow + work);
  }

  // ---- accesses --------------------------------------------------------------
  /** Shadow of a chunk field or a global. */
  private shadow(obj: number, f: Fld): number {
    return f < CHUNK_FIELDS ? obj + this.shadowOff + f * SW : this.globals + (f - FIRST_GLOBAL) * SW;
  }

  /**
   * An access to field `f` of chunk `c` by the current CPU: a dead chunk is
   * a use-after-free; a private one is its owner's; anything else is
   * checked.
   */
  chunkAccess(c: number, f: Fld, write: boolean): void {
    const cpu = this.cur;
    if (cpu === null) return;
    const w = this.w;
    const mask = w[cpu.x + X.LOCKMASK]!;
    const k = f * 2 + (write ? 1 : 0);
    // checked already in this generation with these locks, and no heap object freed since (so the
    // record is still alive: the heap marks a record dead before it counts the free)
    if (this.lastObj[k] === c && this.lastGen[k] === this.gen && this.lastMask[k] === mask && this.lastFrees[k] === w[this.heapFrees]) return;
    if (!this.running()) return;
    if (c >= this.arenaLo && c < this.arenaHi && (w[c - HO.SIZE + HO.STATE] !== HEAP_ALLOC)) this.deadChunk(cpu, c, f, write);
    const owner = w[c + C.OWNER]!;
    if (owner !== 0 && owner === this.ctx(cpu) + 1) return;
    this.check(cpu, c, f, write, mask, k);
  }

  /** A read (`write` false) or write of field `f` of `obj` (0 for a global or a page) by the current CPU. */
  access(obj: number, f: Fld, write: boolean): void {
    const cpu = this.cur;
    if (cpu === null) return;
    const mask = this.w[cpu.x + X.LOCKMASK]!;
    const k = f * 2 + (write ? 1 : 0);
    if (this.lastObj[k] === obj && this.lastGen[k] === this.gen && this.lastMask[k] === mask) return;
    if (!this.running()) return;
    this.check(cpu, obj, f, write, mask, k);
  }

  /** The full check of an access not answered from the cache: the lock rules, then the race shadow. */
  private check(cpu: Cpu, obj: number, f: Fld, write: boolean, mask: number, k: number): void {
    const w = this.w;
    this.lastObj[k] = obj;
    this.lastGen[k] = this.gen;
    this.lastMask[k] = mask;
    this.lastFrees[k] = w[this.heapFrees]!;
    const needW = this.WRITE_NEEDS[f]!, needR = this.READ_NEEDS[f]!;
    if (write ? (mask & needW) !== needW : needR !== 0 && (mask & needR) === 0) this.ruleBroken(cpu, f, write, mask);
    const races = this.RACES[f]!;
    // a field whose reads are declared lockless heuristics: only writes conflict
    if (races === 0 || (races === 2 && !write)) return;
    const sh = this.shadow(obj, f);
    const c = this.ctx(cpu);
    const me = this.row(c);
    const clock = w[me + c]! + 1;
    const mine = c + 1;
    // same epoch as this context's last access of the same kind: nothing new to check (a torn read here can only
    // skip a check, never invent a race)
    if (write ? w[sh] === clock && (w[sh + 1]! & 0xff) === mine : (w[sh + 2] === clock && (w[sh + 3]! & 0xff) === mine) || (w[sh] === clock && (w[sh + 1]! & 0xff) === mine)) return;
    const lw = this.entry(sh, 0);
    // novelty feedback: which function's write (on this context or another) this read observed
    if (!write && lw !== 0 && w[this.run + RUN.COVERAGE] !== 0) covSet(w, this.shm.L, Cov.READS_FROM, f, (lw >>> 8) & 0xff, cpu.site(), (lw & 0xff) === mine ? 1 : 0);
    if (lw !== 0) {
      const u = (lw & 0xff) - 1;
      if (u !== c && this.entryClock > w[me + u]!) this.race(cpu, obj, f, write, true, lw);
    }
    const tag = mine | (frames(w, cpu.x) << 8);
    if (write) {
      const lr = this.entry(sh, 1);
      if (lr !== 0) {
        const u = (lr & 0xff) - 1;
        if (u !== c && this.entryClock > w[me + u]!) this.race(cpu, obj, f, write, false, lr);
      }
    }
    this.record(sh, write ? 0 : 1, clock, tag);
  }

  /** The clock of the entry the last entry() call read. */
  private entryClock = 0;

  /**
   * The last write (kind 0) or read (kind 1) of a field's shadow at `sh`: its tag (0: none), its clock in entryClock.
   * In free-running runs contexts check at once, and the clock of one access and the tag of another, stored by two
   * of them at the same moment, could make an access nobody made (cpu0 and cpu2 "racing" under one lock because
   * cpu1 raced with them both). Each entry carries a check word, a hash of its clock and tag (shadowCheck), stored
   * last: a mix of the words of two or three records (the old one and two being stored) passes only where it
   * equals one of them or where the 32-bit hash collides (about 1 in 4 billion mixes, and mixes need two contexts
   * storing the same entry at the same instant), and one that fails is not read: a race missed, never one invented.
   * Plain loads and stores: a lock or an atomic here cost a quarter of the checked throughput.
   */
  private entry(sh: number, kind: number): number {
    const w = this.w;
    const clock = w[sh + 2 * kind]!, tag = w[sh + 2 * kind + 1]!;
    if (shadowCheck(clock, tag) !== w[sh + 4 + kind]) return 0;
    this.entryClock = clock;
    return tag;
  }

  /** Record an access in its entry (the check word last: an entry being written fails its check until it is whole). */
  private record(sh: number, kind: number, clock: number, tag: number): void {
    const w = this.w;
    w[sh + 2 * kind] = clock;
    w[sh + 2 * kind + 1] = tag;
    w[sh + 4 + kind] = shadowCheck(clock, tag);
  }

  /** Once per run and distinct violation: `key` names what is distinct about it. */
  private once(key: string): boolean {
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
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
    const missing = held & ~mask, extra = mask & notHeld;
    if (!this.once(`ctx:${site}:${missing}:${extra}`)) return;
    const what = missing ? `lockdep_assert_held(&${lockName(31 - Math.clz32(missing & -missing))})` : `${masksText(extra, true)} held`;
    cpu.report('lock-discipline', `WARNING: at mm/percpu.c:${siteName(site)}(): ${what}`,
      `${siteName(site)} runs with ${masksText(mask, true)} held; its CONTEXT needs ${masksText(held, true)}${notHeld ? ` and not ${masksText(notHeld, false)}` : ''}`,
      false, { field: null, function: siteName(site), need: masksText(held, true), forbid: masksText(notHeld, false) });
  }

  private ruleBroken(cpu: Cpu, f: Fld, write: boolean, mask: number): void {
    const site = cpu.site();
    const rule = this.rules[f]!;
    const missing = write ? rule.write & ~mask : rule.read;
    if (!this.once(`rule:${site}:${f}:${write ? 1 : 0}:${missing}:${cpu.inIrq() ? 1 : 0}`)) return;
    const fn = siteName(site);
    const need = write ? masksText(missing, true) : masksText(rule.read, false);
    cpu.report('lock-discipline', 'WARNING: suspicious percpu data access',
      `mm/percpu.c:${fn}: ${write ? 'write to' : 'read of'} ${rule.name} without ${need}!\n\n` +
      `${rule.name} is ${rule.read ? `protected by ${masksText(rule.read, false)} for reads and` : 'read with no lock (declared), and protected by'} ${masksText(rule.write, true)} for writes.\n` +
      `other info that might help us debug this:\n`,
      false, { field: rule.name, function: fn, access: write ? 'write' : 'read', need, held: masksText(mask, true) }, true);
  }

  /** Who a context is, for a report. */
  private ctxName(c: number): { task: string; on: number } {
    const n = this.E - 1;
    if (c < this.E) return { task: c < n ? `cpu${c}` : 'kworker/0:1', on: c };
    return { task: `cpu${c - this.E} (hardirq)`, on: c - this.E };
  }

  private race(cpu: Cpu, obj: number, f: Fld, write: boolean, otherWrite: boolean, otherTag: number): void {
    const other = (otherTag & 0xff) - 1;
    const otherFrames = framesText(otherTag >>> 8);
    const mine = frames(this.w, cpu.x);
    const a = otherFrames[0] ?? '?', b = siteName(mine & 0xff);
    if (!this.once(`race:${f}:${a}:${b}:${write ? 1 : 0}:${otherWrite ? 1 : 0}`)) return;
    const rule = this.rules[f]!;
    const where = f < CHUNK_FIELDS ? `${rule.name} of chunk w[${obj}]` : rule.name;
    const o = this.ctxName(other), me = this.ctxName(this.ctx(cpu));
    cpu.report('data-race', `BUG: KCSAN: data-race in ${a < b ? `${a} / ${b}` : `${b} / ${a}`}`,
      `${otherWrite ? 'write' : 'read'} to ${where} of 4 bytes by task ${o.task} on cpu ${o.on}:\n` +
      otherFrames.map((s) => ` ${s}\n`).join('') +
      `\n${write ? 'write' : 'read'} to ${where} of 4 bytes by task ${me.task} on cpu ${me.on}:\n` +
      ' (stack below)\n\nno happens-before between the two accesses: no common lock, completion, irqs-off section, interrupt or work item orders them\n',
      false, { field: rule.name, functions: [a, b], entities: [o.on, me.on], contexts: [other, this.ctx(cpu)] });
  }

  /** Note a chunk about to be destroyed (its record is freed right after), so a later use can name it. */
  chunkDestroyed(c: number): void {
    const w = this.w, L = this.shm.L;
    const n = Atomics.add(w, L.ck + CK.GRAVE_LEN, 1);
    const at = L.grave + (n % MAX_GRAVE) * GRAVE_WORDS;
    w[at] = c;
    w[at + 1] = w[c + C.SEQ]!;
  }

  /**
   * How an access to a chunk record whose heap object is not live is reported (the machine sets
   * KASAN's, src/mm/kasan.ts: a use-after-free only if the heap recorded the free, naming who
   * freed it; a wild access otherwise). This layer cannot read the heap's records itself.
   */
  deadRecord: ((cpu: Cpu, c: number, field: string, write: boolean, name: string) => never) | null = null;

  private deadChunk(cpu: Cpu, c: number, f: Fld, write: boolean): never {
    const w = this.w, L = this.shm.L;
    let seq = -1;
    const n = w[L.ck + CK.GRAVE_LEN]!;
    for (let i = n - 1; i >= Math.max(0, n - MAX_GRAVE) && seq < 0; i--) {
      const at = L.grave + (i % MAX_GRAVE) * GRAVE_WORDS;
      if (w[at] === c) seq = w[at + 1]!;
    }
    const name = seq >= 0 ? `chunk #${seq} (w[${c}])` : `the pcpu_chunk at w[${c}]`;
    if (this.deadRecord) this.deadRecord(cpu, c, this.rules[f]!.name, write, name);
    cpu.report('use-after-free', `BUG: KASAN: use-after-free in ${siteName(cpu.site())}`,
      `${write ? 'Write' : 'Read'} of ${this.rules[f]!.name} of ${name} by ${cpu.name}: the chunk's heap object is not live`,
      true, { chunk: seq, field: this.rules[f]!.name });
    throw new Error('unreachable');
  }
}
