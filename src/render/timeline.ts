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
      if (mine) used.add(mine);
      if (mine === v) vShown = true;
      lines.push(row(ev.step, ev.entity, mine ? `!! ${mine.title}` : describe(ev, t.cpus)));
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
  ph: 'B' | 'E' | 'b' | 'e' | 'i' | 's' | 'f' | 'M';
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  id?: string;
  s?: 'g' | 'p' | 't';
  bp?: 'e';
  args?: Record<string, unknown>;
}

/** Microseconds of viewer time per scheduling step (events within a step are 1 us apart). */
export const TS_PER_STEP = 1000;

/**
 * Chrome Trace Event JSON of a timeline: one thread per CPU and one for the
 * kworker; a B/E span per function (pcpu_alloc, free_percpu, pcpu_reclaim,
 * populate, map extension, the hardirq handler...); lock holds and lock
 * waits as async spans on the entity's track; each context switch as a flow
 * arrow; the violation as a global instant event. Spans still open when the
 * run stopped are closed at its last step with `unfinished: true`.
 */
export function chromeTrace(t: Timeline, violations: readonly Violation[], meta: Record<string, unknown> = {}): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms'; otherData: Record<string, unknown> } {
  const out: TraceEvent[] = [];
  const pid = 1;
  out.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: 'percpu-stress machine (ts: 1 ms = 1 scheduling step)' } });
  for (let e = 0; e <= t.cpus; e++) {
    out.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid: e, args: { name: entityName(e, t.cpus) } });
    out.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid: e, args: { sort_index: e } });
  }
  const stacks: string[][] = Array.from({ length: t.cpus + 1 }, () => []);
  // async spans open per entity: lock holds and waits, keyed by span id
  const open = new Map<string, { name: string; tid: number; cat: string }>();
  let lastStep = -1;
  let sub = 0;
  let flows = 0;
  let ts = 0;
  const at = (step: number): number => {
    if (step !== lastStep) {
      lastStep = step;
      sub = 0;
    } else sub = Math.min(sub + 1, TS_PER_STEP - 1);
    ts = Math.max(ts, step * TS_PER_STEP + sub);
    return ts;
  };
  for (const ev of t.events) {
    const tid = ev.entity;
    switch (ev.kind) {
      case 'enter':
        stacks[tid]!.push(ev.name);
        out.push({ name: ev.name, cat: ev.name === 'handle_irq' ? 'irq' : 'op', ph: 'B', ts: at(ev.step), pid, tid });
        break;
      case 'leave': {
        // a leave whose enter is older than the ring has no span to close
        if (stacks[tid]!.length === 0) break;
        stacks[tid]!.pop();
        out.push({ name: ev.name, cat: ev.name === 'handle_irq' ? 'irq' : 'op', ph: 'E', ts: at(ev.step), pid, tid });
        break;
      }
      case 'wait': {
        const id = `wait:${tid}:${ev.name}`;
        open.set(id, { name: `waits for ${ev.name}`, tid, cat: 'lock-wait' });
        out.push({ name: `waits for ${ev.name}`, cat: 'lock-wait', ph: 'b', id, ts: at(ev.step), pid, tid });
        break;
      }
      case 'acquire': {
        const wid = `wait:${tid}:${ev.name}`;
        const s = at(ev.step);
        if (open.delete(wid)) out.push({ name: `waits for ${ev.name}`, cat: 'lock-wait', ph: 'e', id: wid, ts: s, pid, tid });
        const id = `hold:${tid}:${ev.name}`;
        open.set(id, { name: `holds ${ev.name}`, tid, cat: 'lock' });
        out.push({ name: `holds ${ev.name}`, cat: 'lock', ph: 'b', id, ts: s, pid, tid, args: { mutex: !!ev.mutex } });
        break;
      }
      case 'release': {
        const id = `hold:${tid}:${ev.name}`;
        if (!open.delete(id)) break;
        out.push({ name: `holds ${ev.name}`, cat: 'lock', ph: 'e', id, ts: at(ev.step), pid, tid });
        break;
      }
      case 'report':
        break; // the violations themselves are written below, as global instants
      case 'switch': {
        const id = `switch:${flows++}`;
        const s = at(ev.step);
        out.push({ name: 'context switch', cat: 'sched', ph: 's', id, ts: s, pid, tid });
        out.push({ name: 'context switch', cat: 'sched', ph: 'f', bp: 'e', id, ts: at(ev.step), pid, tid: ev.to! });
        break;
      }
    }
  }
  const endStep = Math.max(lastStep, ...violations.map((v) => v.step));
  for (const v of violations) {
    out.push({ name: v.title, cat: 'violation', ph: 'i', s: 'g', ts: at(Math.max(v.step, lastStep)), pid, tid: v.cpu, args: { kind: v.kind, step: v.step, text: v.text } });
  }
  const closeAt = at(endStep);
  for (const [id, o] of open) out.push({ name: o.name, cat: o.cat, ph: 'e', id, ts: closeAt, pid, tid: o.tid, args: { unfinished: true } });
  for (let e = 0; e <= t.cpus; e++) {
    const st = stacks[e]!;
    while (st.length) out.push({ name: st.pop()!, cat: 'op', ph: 'E', ts: closeAt, pid, tid: e, args: { unfinished: true } });
  }
  return { traceEvents: out, displayTimeUnit: 'ms', otherData: { ...meta, lostEvents: t.lost, timestamps: 'scheduling steps x 1000 (not wall time)' } };
}
