// The timeline of a controlled run, rendered two ways: as text for a person
// (`replay --explain`) and as Chrome Trace Event JSON for Perfetto and
// chrome://tracing (`--trace-out`). Time is the scheduling step, never the
// wall clock, so the same run always gives the same file.

import type { Violation } from '../report/violation.ts';
import { entityName, type Timeline, type TimelineEvent } from '../report/timeline.ts';

export { entityName } from '../report/timeline.ts';

// ---- text ----

function describe(ev: TimelineEvent, cpus: number): string {
  switch (ev.kind) {
    case 'enter':
      return ev.name === 'handle_irq' ? 'interrupt taken: enters the hardirq handler' : `calls ${ev.name}()`;
    case 'leave':
      return ev.name === 'handle_irq' ? 'returns from the hardirq handler' : `returns from ${ev.name}()`;
    case 'acquire':
      return `takes ${ev.name}`;
    case 'release':
      return `releases ${ev.name}`;
    case 'wait':
      return ev.mutex ? `sleeps on ${ev.name} (held by another)` : `spins on ${ev.name} (held by another)`;
    case 'switch':
      return `-> switch to ${entityName(ev.to!, cpus)}`;
    case 'report':
      return '!! reports a violation';
  }
}

export interface ExplainOptions {
  /** Every recorded step, not only those around the violation. */
  all?: boolean;
  /** Steps before the violation to show (default 25). */
  steps?: number;
}

/** Steps shown after the violation (a non-fatal report lets the run go on). */
const AFTER = 3;

/**
 * The interleaving as text: one line per event (step, entity, what it did),
 * with the first violation in its place. A call that returns at once (a
 * leaf: kzalloc, free_pages...) is one line, and a run of identical leaf
 * calls is one line with its count. By default only the steps around the
 * first violation.
 */
export function explainTimeline(t: Timeline, violations: readonly Violation[], o: ExplainOptions = {}): string {
  const v = violations[0];
  const evs = t.events;
  const lastStep = evs.length ? evs[evs.length - 1]!.step : 0;
  const from = o.all || !v ? -Infinity : v.step - (o.steps ?? 25);
  const to = o.all || !v ? Infinity : v.step + AFTER;
  const width = Math.max(...Array.from({ length: t.cpus + 1 }, (_, e) => entityName(e, t.cpus).length));
  const row = (step: number, e: number, text: string): string => `${String(step).padStart(7)}  ${entityName(e, t.cpus).padEnd(width)}  ${text}`;
  const lines: string[] = [];
  const before = evs.filter((x) => x.step < from).length;
  if (before + t.lost > 0) lines.push(`      …  ${before + t.lost} earlier events${before ? ' (--all shows them)' : ' were not kept'}`);
  let vShown = !v;
  const used = new Set<Violation>();
  for (let i = 0; i < evs.length; i++) {
    const ev = evs[i]!;
    if (ev.step < from) continue;
    if (ev.step > to) {
      lines.push(`      …  ${evs.length - i} later events`);
      break;
    }
    if (ev.kind === 'report') {
      // the report, where it was made: the title of the violation it made
      const mine = violations.find((x) => x.step === ev.step && x.cpu === ev.entity && !used.has(x));
      // a report with no violation of its own is one the run kept once already (the same check, the same place): not repeated
      if (!mine) continue;
      used.add(mine);
      if (mine === v) vShown = true;
      lines.push(row(ev.step, ev.entity, `!! ${mine.title}`));
      continue;
    }
    if (!vShown && ev.step > v!.step) {
      lines.push(row(v!.step, v!.cpu, `!! ${v!.title}`));
      vShown = true;
    }
    const next = evs[i + 1];
    if (ev.kind === 'enter' && next && next.kind === 'leave' && next.entity === ev.entity && next.name === ev.name) {
      // a leaf call, and the identical leaf calls right after it
      let n = 1;
      let j = i + 2;
      while (j + 1 < evs.length && evs[j]!.kind === 'enter' && evs[j]!.name === ev.name && evs[j]!.entity === ev.entity && evs[j]!.step <= to &&
        evs[j + 1]!.kind === 'leave' && evs[j + 1]!.name === ev.name && evs[j + 1]!.entity === ev.entity) {
        n++;
        j += 2;
      }
      lines.push(row(ev.step, ev.entity, `${ev.name === 'handle_irq' ? 'takes an interrupt (nothing to do)' : `calls ${ev.name}()`}${n > 1 ? ` x${n}` : ''}`));
      i = j - 1;
      continue;
    }
    lines.push(row(ev.step, ev.entity, describe(ev, t.cpus)));
  }
  if (!vShown) lines.push(row(v!.step, v!.cpu, `!! ${v!.title}`));
  if (!v && evs.length) lines.push(row(lastStep, evs[evs.length - 1]!.entity, 'end of the run'));
  return [`   step  ${'entity'.padEnd(width)}  event`, ...lines].join('\n') + '\n';
}

// ---- Chrome Trace Event JSON ----

/** A Trace Event (the subset this file writes). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'I' | 's' | 'f' | 'M';
  ts: number;
  /** X: the slice's length (at least 1). */
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  /** Flows: a number (Perfetto's importer takes string ids only as hex). */
  id?: number;
  s?: 'g' | 'p' | 't';
  bp?: 'e';
  args?: Record<string, unknown>;
}

/** Microseconds of viewer time per scheduling step (events within a step are 1 us apart). */
export const TS_PER_STEP = 1000;

/** The tracks of one entity (a CPU or the kworker), a process of its own in the viewer. */
export const TRACK_FUNCTIONS = 1;
export const TRACK_ON_CPU = 2;
/** Lock tracks: TRACK_LOCKS + the lock's number in the trace's list of locks. */
export const TRACK_LOCKS = 10;

/**
 * Chrome Trace Event JSON of a timeline, as the catapult viewer
 * (chrome://tracing, Perfetto's JSON importer follows it) and the DevTools
 * trace engine load it whole: each CPU (and the kworker) is a process with
 * its own tracks: its functions (pcpu_alloc, free_percpu, pcpu_reclaim,
 * populate, map extension, the hardirq handler... as complete `X` slices,
 * nested), when it is on the CPU (a slice per turn), and one track per lock
 * it waited for or held. Every event has its own timestamp (strictly
 * increasing), so no two slices of a track share an edge ambiguously.
 *
 * A context switch is a flow arrow with numeric ids from a one-step
 * "switch to ..." slice at the end of the outgoing turn to the start of the
 * incoming turn: each end starts a slice of the flow's category on the
 * flow's thread at the flow's timestamp, which is how DevTools binds a flow
 * (same ts, pid, tid and category), and lies inside it, how catapult binds
 * `s` and `f` with `bp: "e"` (the enclosing slice).
 *
 * A violation is an instant (`I`, the phase both know) on its CPU's
 * function track at the point of the run where it was reported, so inside
 * the function slice it was reported from; one reported by no entity (a
 * deadlock, a leak at the end) is at its own step. Slices still open when
 * the run stopped end at its last step with `unfinished: true`.
 */
export function chromeTrace(t: Timeline, violations: readonly Violation[], meta: Record<string, unknown> = {}): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms'; otherData: Record<string, unknown> } {
  const out: TraceEvent[] = [];
  const pidOf = (e: number): number => e + 1;
  const lockNames: string[] = [];
  const lockTrack = (name: string): number => {
    let i = lockNames.indexOf(name);
    if (i < 0) i = lockNames.push(name) - 1;
    return TRACK_LOCKS + i;
  };
  for (let e = 0; e <= t.cpus; e++) {
    const pid = pidOf(e);
    const who = entityName(e, t.cpus);
    out.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: who } });
    out.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid, tid: 0, args: { sort_index: e } });
    out.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid: TRACK_FUNCTIONS, args: { name: `${who}: functions` } });
    out.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid: TRACK_FUNCTIONS, args: { sort_index: 0 } });
    out.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid: TRACK_ON_CPU, args: { name: `${who}: on the CPU` } });
    out.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid: TRACK_ON_CPU, args: { sort_index: 1 } });
  }
  const slices: TraceEvent[] = [];
  const x = (name: string, cat: string, pid: number, tid: number, start: number, end: number, args?: Record<string, unknown>): void => {
    slices.push({ name, cat, ph: 'X', ts: start, dur: Math.max(1, end - start), pid, tid, ...(args ? { args } : {}) });
  };
  // open slices: functions per entity, turns on the CPU per entity, waits and holds per (entity, lock)
  const fnStack: { name: string; start: number }[][] = Array.from({ length: t.cpus + 1 }, () => []);
  const turn: (number | null)[] = Array.from({ length: t.cpus + 1 }, () => null);
  const lockStack = new Map<string, { name: string; cat: string; start: number; tid: number; pid: number }[]>();
  const key = (e: number, lock: string): string => `${e}\0${lock}`;
  let ts = 0;
  let lastStep = -1;
  const at = (step: number): number => {
    lastStep = Math.max(lastStep, step);
    ts = Math.max(ts + 1, step * TS_PER_STEP);
    return ts;
  };
  const onCpu = (e: number, now: number): void => {
    if (turn[e] === null) turn[e] = now;
  };
  let flows = 0;
  const instants: TraceEvent[] = [];
  const placed = new Set<Violation>();
  const marker = (v: Violation, ts: number): void => {
    placed.add(v);
    const where = v.cpu >= 0 && v.cpu <= t.cpus ? { pid: pidOf(v.cpu), tid: TRACK_FUNCTIONS, s: 't' as const } : { pid: 1, tid: TRACK_FUNCTIONS, s: 'g' as const };
    instants.push({ name: v.title, cat: 'violation', ph: 'I', ts, ...where, args: { kind: v.kind, step: v.step, text: v.text } });
  };
  /** The last timestamp given to each step. */
  const tsOfStep = new Map<number, number>();
  for (const ev of t.events) {
    const e = ev.entity;
    const pid = pidOf(e);
    switch (ev.kind) {
      case 'enter': {
        const now = at(ev.step);
        onCpu(e, now);
        fnStack[e]!.push({ name: ev.name, start: now });
        break;
      }
      case 'leave': {
        // a leave whose enter is older than the ring has no slice to close
        const f = fnStack[e]!.pop();
        if (f) x(f.name, f.name === 'handle_irq' ? 'irq' : 'op', pid, TRACK_FUNCTIONS, f.start, at(ev.step));
        break;
      }
      case 'wait': {
        const now = at(ev.step);
        onCpu(e, now);
        const k = key(e, ev.name);
        const st = lockStack.get(k) ?? [];
        st.push({ name: `waits for ${ev.name}`, cat: 'lock-wait', start: now, tid: lockTrack(ev.name), pid });
        lockStack.set(k, st);
        break;
      }
      case 'acquire': {
        const now = at(ev.step);
        onCpu(e, now);
        const k = key(e, ev.name);
        const st = lockStack.get(k) ?? [];
        const top = st[st.length - 1];
        if (top?.cat === 'lock-wait') {
          st.pop();
          x(top.name, top.cat, top.pid, top.tid, top.start, now);
        }
        st.push({ name: `holds ${ev.name}`, cat: 'lock', start: now + 1, tid: lockTrack(ev.name), pid });
        lockStack.set(k, st);
        break;
      }
      case 'release': {
        const st = lockStack.get(key(e, ev.name));
        const top = st?.[st.length - 1];
        if (!top || top.cat !== 'lock') break;
        st!.pop();
        x(top.name, top.cat, top.pid, top.tid, top.start, at(ev.step));
        break;
      }
      case 'report': {
        // the violation this report made, where it was made (the same report again is not repeated)
        const v = violations.find((x) => x.step === ev.step && x.cpu === e && !placed.has(x));
        if (v) marker(v, at(ev.step));
        break;
      }
      case 'switch': {
        const to = ev.to!;
        // the outgoing turn ends with a one-step slice the flow leaves from; the incoming one starts where the flow lands
        const leave = at(ev.step);
        onCpu(e, leave);
        x(`switch to ${entityName(to, t.cpus)}`, 'sched', pid, TRACK_ON_CPU, leave, leave + 1);
        x('on the CPU', 'sched', pid, TRACK_ON_CPU, turn[e]!, leave + 1);
        turn[e] = null;
        const land = at(ev.step);
        if (turn[to] !== null) x('on the CPU', 'sched', pidOf(to), TRACK_ON_CPU, turn[to]!, land);
        turn[to] = land;
        const id = ++flows;
        out.push({ name: 'context switch', cat: 'sched', ph: 's', id, ts: leave, pid, tid: TRACK_ON_CPU });
        out.push({ name: 'context switch', cat: 'sched', ph: 'f', bp: 'e', id, ts: land, pid: pidOf(to), tid: TRACK_ON_CPU });
        break;
      }
    }
    tsOfStep.set(ev.step, ts);
  }
  // violations no entity reported from its place: at their own step (the last point recorded at
  // or before it), or after the last event when the run had ended before it
  for (const v of violations) {
    if (placed.has(v)) continue;
    let best = -1;
    for (const [step, when] of tsOfStep) if (step <= v.step && when > best) best = when;
    marker(v, v.step > lastStep || best < 0 ? at(v.step) : best);
  }
  const endStep = Math.max(lastStep, ...violations.map((v) => v.step));
  const closeAt = at(endStep) + 1;
  const unfinished = { unfinished: true };
  for (const st of lockStack.values()) while (st.length) {
    const o = st.pop()!;
    x(o.name, o.cat, o.pid, o.tid, o.start, closeAt, unfinished);
  }
  for (let e = 0; e <= t.cpus; e++) {
    const st = fnStack[e]!;
    while (st.length) {
      const f = st.pop()!;
      x(f.name, 'op', pidOf(e), TRACK_FUNCTIONS, f.start, closeAt, unfinished);
    }
    if (turn[e] !== null) x('on the CPU', 'sched', pidOf(e), TRACK_ON_CPU, turn[e]!, closeAt + 1);
  }
  lockNames.forEach((name, i) => {
    for (let e = 0; e <= t.cpus; e++) {
      if (!slices.some((sl) => sl.pid === pidOf(e) && sl.tid === TRACK_LOCKS + i)) continue;
      out.push({ name: 'thread_name', ph: 'M', ts: 0, pid: pidOf(e), tid: TRACK_LOCKS + i, args: { name: `${entityName(e, t.cpus)}: ${name}` } });
      out.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid: pidOf(e), tid: TRACK_LOCKS + i, args: { sort_index: 2 + i } });
    }
  });
  // slices in time order (a parent before its children: the longer first at one start)
  slices.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
  out.push(...slices, ...instants);
  return { traceEvents: out, displayTimeUnit: 'ms', otherData: { ...meta, lostEvents: t.lost, timestamps: 'scheduling steps x 1000 (not wall time)' } };
}
