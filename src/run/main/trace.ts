// `percpu-stress trace`: replay a recorded sequence of percpu requests on
// one CPU, deterministically, and print what the allocator did.
//
// The input streams through: each line is validated and executed as it is
// read and its answer written at once, so memory grows with the live
// allocations, not with the input. Two formats, line by line:
//  - JSON lines ({"op":"setup"|"alloc"|"free"|"reclaim",...});
//  - the kernel's own tracepoint text as ftrace or trace-cmd print it
//    (percpu_alloc_percpu, percpu_alloc_percpu_fail, percpu_free_percpu;
//    percpu_create_chunk and percpu_destroy_chunk are the recorded
//    allocator's own decisions and are skipped), frees matched to
//    allocations by ptr.
// A bad line stops the replay after the answers to the lines before it.
//
// The emulated machine starts small. When a request needs more than it
// holds (chunks, page frames, vmalloc space) and the kernel would not have
// run out, a bigger machine is built, the requests so far are re-executed
// silently (each answer checked against the one already printed), and the
// replay goes on. Past the largest machine the emulator can address, the
// allocator fails requests the way the kernel does on a machine that size
// (pcpu_alloc's "PERCPU: allocation failed" path), and a note says so.

import { Oops, type Violation } from '../../report/violation.ts';
import { CapacityExceeded } from '../../mm/kernel-api.ts';
import { ConfigError, DEFAULTS, DEFAULT_KERNEL, type KernelVersion } from '../../shm/config.ts';
import { Kernel, bootMachine, newShm, planMachine, type MachineSpec } from '../machine.ts';
import { classify, type ClassifyOptions } from '../../check/known.ts';
import type { PcpuState } from '../../percpu/chunk.ts';

export type TraceOp =
  | { op: 'alloc'; size: number; align: number; reserved: boolean; line: number }
  | { op: 'free'; ref: number; line: number }
  | { op: 'reclaim'; line: number };

export interface TraceSetup {
  static: number;
  reserved: number;
  dyn: number;
  unit: number;
}

/** Bad trace input: one line for stderr, exit code 2. */
export class TraceInputError extends Error {}

export interface TraceResult {
  lines: string[];
  /** Set when the input went bad at some line: output stops before it. */
  inputError?: string;
  /** Set when the allocator hit a violation (kernel BUG, list corruption...): its text. */
  violation?: string;
  /** The violation as data (its mechanism, if a known issue's fired), for the one verdict every command shares. */
  found?: Violation;
  /** Things the user should know that are not errors (stderr). */
  notes: string[];
  /** How many times the emulated machine was rebuilt bigger. */
  grown: number;
}

const KEYS: Record<string, readonly string[]> = {
  setup: ['op', 'static', 'reserved', 'dyn', 'unit'],
  alloc: ['op', 'size', 'align', 'reserved'],
  free: ['op', 'ref'],
  reclaim: ['op'],
};

const MAX_SIZE = 0x7fffffff;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** Parse one JSON input line; `allocs` is the number of alloc lines before it. */
export function parseTraceLine(text: string, lineNo: number, allocs: number): TraceOp | TraceSetup {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TraceInputError(`line ${lineNo}: not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TraceInputError(`line ${lineNo}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  const op = o.op;
  if (typeof op !== 'string' || !Object.hasOwn(KEYS, op)) {
    throw new TraceInputError(`line ${lineNo}: unknown op ${JSON.stringify(op)?.slice(0, 40)} (expected setup, alloc, free or reclaim)`);
  }
  for (const k of Object.keys(o)) {
    if (!KEYS[op]!.includes(k)) throw new TraceInputError(`line ${lineNo}: unexpected field ${JSON.stringify(k.slice(0, 40))} in ${op}`);
  }
  const need = (k: string, lo: number): number => {
    const x = o[k];
    if (!isInt(x) || x < lo) throw new TraceInputError(`line ${lineNo}: ${op}.${k} must be an integer >= ${lo}, got ${JSON.stringify(x)?.slice(0, 40)}`);
    return x;
  };
  switch (op) {
    case 'setup':
      return { static: need('static', 1), reserved: need('reserved', 0), dyn: need('dyn', 0), unit: need('unit', 1) };
    case 'alloc': {
      const size = need('size', 0);
      const align = need('align', 1);
      if ((align & (align - 1)) !== 0 || align > 1 << 30) throw new TraceInputError(`line ${lineNo}: alloc.align must be a power of two, got ${align}`);
      const r = o.reserved;
      if (r !== undefined && typeof r !== 'boolean') throw new TraceInputError(`line ${lineNo}: alloc.reserved must be true or false`);
      // beyond 2^31 the kernel refuses the size exactly as it refuses 2^31-1
      return { op: 'alloc', size: Math.min(size, MAX_SIZE), align, reserved: r === true, line: lineNo };
    }
    case 'free': {
      const ref = need('ref', 0);
      if (ref >= allocs) throw new TraceInputError(`line ${lineNo}: free of unknown ref ${ref} (only ${allocs} alloc lines so far)`);
      return { op: 'free', ref, line: lineNo };
    }
    default:
      return { op: 'reclaim', line: lineNo };
  }
}

// ---- the kernel's tracepoint text ----

/** One percpu tracepoint event from ftrace/trace-cmd text, or null for a line to skip. */
export type FtraceEvent =
  | { ev: 'alloc'; size: number; align: number; reserved: boolean; ptr: string | null }
  | { ev: 'free'; ptr: string }
  | null;

const EVENT_RE = /(?:^|[\s:])(percpu_alloc_percpu_fail|percpu_alloc_percpu|percpu_free_percpu|percpu_create_chunk|percpu_destroy_chunk):\s/;
const FIELD_RE = /(?:^|\s)([a-z_]+)=/g;
/** The header lines trace-cmd report prints before the events. */
const HEADER_RE = /^(?:#|cpus=\d+$|version = |CPU \d+ is empty$)/;

function ftraceFields(rest: string): Map<string, string> {
  const f = new Map<string, string>();
  const marks: { key: string; start: number; end: number }[] = [];
  FIELD_RE.lastIndex = 0;
  for (let m = FIELD_RE.exec(rest); m !== null; m = FIELD_RE.exec(rest)) {
    marks.push({ key: m[1]!, start: m.index, end: m.index + m[0].length });
  }
  for (let i = 0; i < marks.length; i++) {
    const value = rest.slice(marks[i]!.end, i + 1 < marks.length ? marks[i + 1]!.start : rest.length).trim();
    f.set(marks[i]!.key, value);
  }
  return f;
}

function ftraceNumber(f: Map<string, string>, key: string, ev: string, lineNo: number): number {
  const v = f.get(key);
  if (v === undefined) throw new TraceInputError(`line ${lineNo}: ${ev} without ${key}=`);
  if (!/^(?:\d+|0x[0-9a-fA-F]+)$/.test(v)) throw new TraceInputError(`line ${lineNo}: ${ev}: ${key}=${JSON.stringify(v.slice(0, 40))} is not a number`);
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

/**
 * Parse one line of ftrace/trace-cmd text. Returns null for header and
 * comment lines and for the recorded allocator's own chunk events; throws
 * TraceInputError for a line that is none of those.
 */
export function parseFtraceLine(text: string, lineNo: number): FtraceEvent {
  if (HEADER_RE.test(text)) return null;
  const m = EVENT_RE.exec(text);
  if (!m) throw new TraceInputError(`line ${lineNo}: not a percpu tracepoint event or a JSON request: ${JSON.stringify(text.slice(0, 40))}`);
  const ev = m[1]!;
  if (ev === 'percpu_create_chunk' || ev === 'percpu_destroy_chunk') return null;
  const f = ftraceFields(text.slice(m.index + m[0].length));
  if (ev === 'percpu_free_percpu') {
    const ptr = f.get('ptr');
    if (!ptr) throw new TraceInputError(`line ${lineNo}: ${ev} without ptr=`);
    return { ev: 'free', ptr };
  }
  const size = Math.min(ftraceNumber(f, 'size', ev, lineNo), MAX_SIZE);
  const align = ftraceNumber(f, 'align', ev, lineNo);
  if (align < 1 || (align & (align - 1)) !== 0 || align > 1 << 30) throw new TraceInputError(`line ${lineNo}: ${ev}: align=${align} is not a power of two`);
  const reserved = ftraceNumber(f, 'reserved', ev, lineNo) !== 0;
  if (ev === 'percpu_alloc_percpu_fail') return { ev: 'alloc', size, align, reserved, ptr: null };
  const ptr = f.get('ptr');
  if (!ptr) throw new TraceInputError(`line ${lineNo}: ${ev} without ptr=`);
  return { ev: 'alloc', size, align, reserved, ptr };
}

// ---- the replay machine ----

function stateLine(st: PcpuState): string {
  const chunks: string[] = [];
  const entry = (c: number, slot: number): string =>
    `{"chunk":${st.seq(c)},"slot":${slot},"free":${st.freeSize(c)},"contig":${st.contigHint(c)},"map":[${st.mapArray(c).join(',')}]}`;
  for (let s = 0; s < st.nrSlots; s++) {
    const head = st.slotHead(s);
    for (let pos = st.next(head); pos !== head; pos = st.next(pos)) chunks.push(entry(pos, s));
  }
  if (st.reservedChunk) chunks.push(entry(st.reservedChunk, -1));
  return `{"op":"state","chunks":[${chunks.join(',')}]}`;
}

/** A growable Int32 array (the request log and the pointer per ref). */
class IntLog {
  a = new Int32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

const OP_ALLOC = 1;
const OP_FREE = 2;
const OP_RECLAIM = 3;
/** Words per logged request: kind, size or ref, align, reserved, line, hash of its answer. */
const REC = 6;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

type TraceEnd = { inputError?: string; violation?: string; found?: Violation };

class Outcome extends Error {
  constructor(readonly result: TraceEnd) {
    super('trace stopped');
  }
}

/**
 * The streaming replay. feed() one input line at a time, then finish().
 * Answers go to `emit` as they are computed.
 */
export class TraceReplay {
  private setup: TraceSetup | null = null;
  private seenRequest = false;
  private k: Kernel | null = null;
  private spec: MachineSpec | null = null;
  private maxChunks: number;
  private readonly kernelVersion: KernelVersion;
  private readonly classifyOpts: ClassifyOptions;
  /** Non-fatal reports that did not count (a known issue's, a suppressed one): noted once each, the trace goes on. */
  private readonly acknowledged = new Set<string>();
  /** Page frames, once a request needed more than the default (0 = the default for maxChunks). */
  private pages = 0;
  /** false once the emulator is as big as it can be: the allocator then fails requests like the kernel. */
  private strict = true;
  private readonly log = new IntLog();
  /** The percpu pointer per ref (0 when the allocation failed, -1 once freed). */
  private refs = new IntLog();
  /** ftrace: the recorded ptr of each live allocation -> its ref. */
  private readonly byPtr = new Map<string, number>();
  private unmatchedFrees = 0;
  private reportedViolations = 0;
  readonly notes: string[] = [];
  private done: TraceEnd | null = null;

  /** How many times the machine was rebuilt bigger. */
  grown = 0;

  constructor(
    private readonly emit: (line: string) => void,
    opts: { maxChunks?: number; kernel?: KernelVersion } & ClassifyOptions = {},
  ) {
    this.maxChunks = opts.maxChunks ?? 64;
    this.kernelVersion = opts.kernel ?? DEFAULT_KERNEL;
    this.classifyOpts = { suppressions: opts.suppressions, strictKnown: opts.strictKnown };
  }

  /** False once the replay stopped (bad input or a violation). */
  get running(): boolean {
    return this.done === null;
  }

  feed(raw: string, lineNo: number): void {
    if (this.done) return;
    const text = raw.trim();
    if (text === '') return;
    try {
      if (text.startsWith('{')) this.feedJson(text, lineNo);
      else this.feedFtrace(text, lineNo);
    } catch (e) {
      if (e instanceof TraceInputError) this.done = { inputError: e.message };
      else if (e instanceof Outcome) this.done = e.result;
      else throw e;
    }
  }

  /** End of input: the final state line, or the reason the replay stopped. */
  finish(): TraceEnd {
    if (!this.done) {
      try {
        this.emit(stateLine(this.kernel().st));
        this.done = {};
      } catch (e) {
        if (e instanceof Outcome) this.done = e.result;
        else if (e instanceof TraceInputError) this.done = { inputError: e.message };
        else throw e;
      }
    }
    if (this.unmatchedFrees > 0) {
      this.notes.push(`${this.unmatchedFrees} percpu_free_percpu event(s) freed a ptr no recorded allocation returned (allocated before the recording began): skipped`);
    }
    return this.done;
  }

  private feedJson(text: string, lineNo: number): void {
    const p = parseTraceLine(text, lineNo, this.refs.n);
    if ('static' in p) {
      if (this.setup !== null || this.seenRequest) throw new TraceInputError(`line ${lineNo}: setup must be the first line`);
      this.setup = p;
      this.kernel(); // a setup the allocator cannot boot is bad input at this line
      return;
    }
    this.seenRequest = true;
    if (p.op === 'alloc') this.request(OP_ALLOC, p.size, p.align, p.reserved ? 1 : 0, lineNo);
    else if (p.op === 'free') this.request(OP_FREE, p.ref, 0, 0, lineNo);
    else this.request(OP_RECLAIM, 0, 0, 0, lineNo);
  }

  private feedFtrace(text: string, lineNo: number): void {
    const e = parseFtraceLine(text, lineNo);
    if (e === null) return;
    this.seenRequest = true;
    if (e.ev === 'alloc') {
      const ref = this.refs.n;
      this.request(OP_ALLOC, e.size, e.align, e.reserved ? 1 : 0, lineNo);
      // the newest allocation that returned a ptr owns it; the previous
      // owner of a reused ptr was freed before it (or the recording lost it)
      if (e.ptr !== null && this.done === null) this.byPtr.set(e.ptr, ref);
      return;
    }
    const ref = this.byPtr.get(e.ptr);
    if (ref === undefined) {
      this.unmatchedFrees++;
      return;
    }
    this.byPtr.delete(e.ptr);
    this.request(OP_FREE, ref, 0, 0, lineNo);
  }

  private request(kind: number, a: number, b: number, c: number, lineNo: number): void {
    const i = this.log.n / REC;
    for (const v of [kind, a, b, c, lineNo, 0]) this.log.push(v);
    const line = this.executeOrGrow(i);
    this.log.a[i * REC + 5] = hash32(line);
    this.emit(line);
  }

  private kernel(): Kernel {
    if (this.k === null) this.k = this.build();
    return this.k;
  }

  private build(): Kernel {
    const s = this.setup ?? { static: DEFAULTS.staticSize, reserved: DEFAULTS.reservedSize, dyn: DEFAULTS.dynSize, unit: 32768 };
    const cfg = {
      ...(this.kernelVersion !== DEFAULT_KERNEL ? { kernel: this.kernelVersion } : {}),
      cpus: 1, staticSize: s.static, reservedSize: s.reserved, dynSize: s.dyn, unitSize: s.unit, maxChunks: this.maxChunks, pages: this.pages,
    };
    let spec: MachineSpec;
    try {
      spec = planMachine(cfg);
    } catch (e) {
      if (e instanceof ConfigError) throw new TraceInputError(`setup: ${e.message}`);
      throw e;
    }
    const shm = newShm(spec);
    bootMachine(spec, shm);
    this.spec = spec;
    return new Kernel(spec, shm, { strictCapacity: this.strict, lockdep: false });
  }

  /**
   * A bigger machine than the current one for what ran out (page frames, or
   * chunks and their vmalloc space and heap), or false when none can be
   * addressed.
   */
  private grow(what: CapacityExceeded): boolean {
    const s = this.spec!.cfg;
    const frames = what.message.includes('page frames');
    const now = frames ? this.spec!.L.nrPages : this.maxChunks;
    for (let want = now * 4; want > now; want = Math.floor((want + now) / 2)) {
      try {
        if (frames) {
          if (want > 1 << 20) continue;
          planMachine({ ...s, pages: want });
          this.pages = want;
        } else {
          planMachine({ ...s, maxChunks: want });
          this.maxChunks = want;
        }
        return true;
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
      }
    }
    return false;
  }

  /** Execute request i; on a capacity limit, move to a bigger machine and re-execute 0..i. */
  private executeOrGrow(i: number): string {
    for (;;) {
      try {
        return this.execute(this.kernel(), i);
      } catch (e) {
        if (!(e instanceof CapacityExceeded)) throw e;
        if (!this.grow(e)) {
          this.strict = false;
          this.notes.push(
            `line ${this.log.a[i * REC + 4]}: the request needs more than the emulator can address (${e.message}); ` +
              `from here the allocator fails requests as the kernel does when it runs out`,
          );
        }
        this.rebuild(i);
      }
    }
  }

  /** A new machine with requests 0..upTo-1 re-executed, each answer equal to the one printed. */
  private rebuild(upTo: number): void {
    this.grown++;
    for (;;) {
      this.k = null;
      this.reportedViolations = 0;
      const k = this.kernel();
      this.refs = new IntLog();
      try {
        for (let j = 0; j < upTo; j++) {
          const line = this.execute(k, j);
          if (hash32(line) !== this.log.a[j * REC + 5]) {
            throw new Error(`trace: the replay on a bigger machine answered line ${this.log.a[j * REC + 4]} differently`);
          }
        }
        return;
      } catch (e) {
        if (!(e instanceof CapacityExceeded)) throw e;
        if (!this.grow(e)) this.strict = false;
      }
    }
  }

  private execute(k: Kernel, i: number): string {
    const r = this.log.a;
    const o = i * REC;
    const kind = r[o]!;
    const cpu = k.cpu(0);
    const st = k.st;
    let line: string;
    try {
      if (kind === OP_ALLOC) {
        const ref = this.refs.n;
        const p = k.pcpu.pcpuAlloc(cpu, r[o + 1]!, r[o + 2]!, r[o + 3] === 1);
        this.refs.push(p);
        if (p === 0) {
          line = `{"op":"alloc","ref":${ref},"error":${JSON.stringify(k.pcpu.lastError)}}`;
        } else {
          const c = k.pcpu.chunkAddrSearch(cpu, p);
          line = `{"op":"alloc","ref":${ref},"chunk":${st.seq(c)},"off":${p - st.baseAddr(c)}}`;
        }
      } else if (kind === OP_FREE) {
        const ref = r[o + 1]!;
        const p = this.refs.a[ref]!;
        if (p < 0) throw new TraceInputError(`line ${r[o + 4]}: free of ref ${ref}, which was already freed`);
        k.pcpu.freePercpu(cpu, p);
        if (p > 0) this.refs.a[ref] = -1;
        line = `{"op":"free","ref":${ref},"reclaimScheduled":${k.pcpu.lastFreeScheduled}}`;
      } else {
        line = `{"op":"reclaim","destroyed":[${k.runReclaimIfPending().join(',')}]}`;
      }
    } catch (e) {
      if (e instanceof Oops) throw new Outcome({ violation: e.violation.text, found: e.violation });
      throw e;
    }
    k.log.length = 0;
    // a non-fatal report that does not count (a known issue whose mechanism fired, a suppressed one) is
    // what the kernel prints and goes on from: noted, and the trace goes on
    while (k.violations.length > this.reportedViolations) {
      const v = k.violations[this.reportedViolations]!;
      if (v.fatal || classify([v], this.classifyOpts)) break;
      const what = v.known ? `known issue ${v.known} of the ${this.kernelVersion} baseline (its mechanism fired)` : 'suppressed';
      if (!this.acknowledged.has(`${what}\n${v.title}`)) {
        this.acknowledged.add(`${what}\n${v.title}`);
        this.notes.push(`line ${r[o + 4]}: ${what}: ${v.title}; the trace goes on, as the kernel does after a warning`);
      }
      this.reportedViolations++;
    }
    if (k.violations.length > this.reportedViolations) {
      // a non-fatal report (a WARN, a specification check): print it after the answer
      this.emit(line);
      const v = k.violations[this.reportedViolations]!;
      throw new Outcome({ violation: v.text, found: v });
    }
    return line;
  }
}

/** Replay a whole trace held in a string (the tests; the CLI streams). */
export function runTrace(text: string, opts: { maxChunks?: number; kernel?: KernelVersion } = {}): TraceResult {
  const lines: string[] = [];
  const t = new TraceReplay((l) => lines.push(l), opts);
  let lineNo = 0;
  let start = 0;
  while (start <= text.length && t.running) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    t.feed(text.slice(start, end), ++lineNo);
    start = end + 1;
  }
  const r = t.finish();
  return { lines, ...r, notes: t.notes, grown: t.grown };
}
