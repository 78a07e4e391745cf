// `percpu-stress trace`: replay a recorded sequence of percpu requests on
// one CPU, deterministically, and print what the allocator did. The input is
// validated line by line as it is executed; a bad line stops the replay with
// the output of the lines before it.

import { Oops } from '../report/violation.ts';
import { CapacityExceeded } from '../mm/kernel-api.ts';
import { ConfigError, DEFAULTS } from '../shm/config.ts';
import { Kernel, bootMachine, newShm, planMachine } from './machine.ts';
import { chunkSlot } from '../percpu/area-map.ts';
import type { PcpuState } from '../percpu/chunk.ts';

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
  /** Set when the allocator hit a violation (kernel BUG, list corruption...). */
  violation?: string;
}

const KEYS: Record<string, readonly string[]> = {
  setup: ['op', 'static', 'reserved', 'dyn', 'unit'],
  alloc: ['op', 'size', 'align', 'reserved'],
  free: ['op', 'ref'],
  reclaim: ['op'],
};

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** Parse one input line; `allocs` is the number of alloc lines before it. */
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
  if (typeof op !== 'string' || !(op in KEYS)) throw new TraceInputError(`line ${lineNo}: unknown op ${JSON.stringify(op)} (expected setup, alloc, free or reclaim)`);
  for (const k of Object.keys(o)) {
    if (!KEYS[op]!.includes(k)) throw new TraceInputError(`line ${lineNo}: unexpected field "${k}" in ${op}`);
  }
  const need = (k: string, lo: number): number => {
    const x = o[k];
    if (!isInt(x) || x < lo) throw new TraceInputError(`line ${lineNo}: ${op}.${k} must be an integer >= ${lo}, got ${JSON.stringify(x)}`);
    return x;
  };
  switch (op) {
    case 'setup': {
      const s = { static: need('static', 1), reserved: need('reserved', 0), dyn: need('dyn', 0), unit: need('unit', 1) };
      return s;
    }
    case 'alloc': {
      const size = need('size', 0);
      const align = need('align', 1);
      if ((align & (align - 1)) !== 0 || align > 1 << 30) throw new TraceInputError(`line ${lineNo}: alloc.align must be a power of two, got ${align}`);
      const r = o.reserved;
      if (r !== undefined && typeof r !== 'boolean') throw new TraceInputError(`line ${lineNo}: alloc.reserved must be true or false`);
      return { op: 'alloc', size: Math.min(size, 0x7fffffff), align, reserved: r === true, line: lineNo };
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

/** Parse the whole input; throws TraceInputError with the first bad line. */
export function parseTrace(text: string): { setup: TraceSetup | null; ops: TraceOp[]; error?: string } {
  let setup: TraceSetup | null = null;
  const ops: TraceOp[] = [];
  let allocs = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '') continue;
    try {
      const p = parseTraceLine(t, i + 1, allocs);
      if ('static' in p) {
        if (setup !== null || ops.length > 0) throw new TraceInputError(`line ${i + 1}: setup must be the first line`);
        setup = p;
      } else {
        if (p.op === 'alloc') allocs++;
        ops.push(p);
      }
    } catch (e) {
      if (e instanceof TraceInputError) return { setup, ops, error: e.message };
      throw e;
    }
  }
  return { setup, ops };
}

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

function runOnce(setup: TraceSetup | null, ops: TraceOp[], maxChunks: number): TraceResult {
  const s = setup ?? { static: DEFAULTS.staticSize, reserved: DEFAULTS.reservedSize, dyn: DEFAULTS.dynSize, unit: 32768 };
  const spec = planMachine({
    cpus: 1, staticSize: s.static, reservedSize: s.reserved, dynSize: s.dyn, unitSize: s.unit, maxChunks,
  });
  const shm = newShm(spec);
  bootMachine(spec, shm);
  const k = new Kernel(spec, shm, { strictCapacity: true, lockdep: false });
  const cpu = k.cpu(0);
  const st = k.st;
  const refs: number[] = []; // percpu pointer per alloc line, 0 when it failed, -1 once freed
  const lines: string[] = [];
  try {
    for (const op of ops) {
      if (op.op === 'alloc') {
        const ref = refs.length;
        const p = k.pcpu.pcpuAlloc(cpu, op.size, op.align, op.reserved);
        refs.push(p);
        if (p === 0) {
          lines.push(`{"op":"alloc","ref":${ref},"error":${JSON.stringify(k.pcpu.lastError)}}`);
        } else {
          const c = k.pcpu.chunkAddrSearch(cpu, p);
          lines.push(`{"op":"alloc","ref":${ref},"chunk":${st.seq(c)},"off":${p - st.baseAddr(c)}}`);
        }
      } else if (op.op === 'free') {
        const p = refs[op.ref]!;
        if (p < 0) return { lines, inputError: `line ${op.line}: free of ref ${op.ref}, which was already freed` };
        k.pcpu.freePercpu(cpu, p);
        if (p > 0) refs[op.ref] = -1;
        lines.push(`{"op":"free","ref":${op.ref},"reclaimScheduled":${k.pcpu.lastFreeScheduled}}`);
      } else {
        lines.push(`{"op":"reclaim","destroyed":[${k.runReclaimIfPending().join(',')}]}`);
      }
    }
  } catch (e) {
    if (e instanceof Oops) return { lines, violation: e.violation.text };
    throw e;
  }
  lines.push(stateLine(st));
  return { lines };
}

/**
 * Replay a trace. The emulated machine is sized for the trace; if it turns
 * out too small (the kernel would not have run out), the replay starts over
 * on a bigger one, so the result never depends on the emulator's capacity.
 */
export function runTrace(text: string): TraceResult {
  const parsed = parseTrace(text);
  let maxChunks = 64;
  for (;;) {
    try {
      const r = runOnce(parsed.setup, parsed.ops, maxChunks);
      if (parsed.error && !r.inputError && !r.violation) {
        r.lines.pop(); // no state line after bad input
        r.inputError = parsed.error;
      }
      return r;
    } catch (e) {
      if (e instanceof CapacityExceeded && maxChunks < 1 << 14) {
        maxChunks *= 4;
        continue;
      }
      if (e instanceof ConfigError) return { lines: [], inputError: `setup: ${e.message}` };
      throw e;
    }
  }
}
