// The HTML report (--html): one self-contained file that works offline --
// inline CSS and SVG, no fetches. The verdict; per scenario run its counts
// and percpu_stats; each violation's text; an SVG timeline of the failing
// interleaving around the violation (what each CPU was running, the locks
// it held or waited for, interrupts, the violation); the lockdep dependency
// graph as SVG with the edges of the offending cycle or irq inversion
// highlighted; and the exact command to replay it.

import { plural } from './campaign.ts';
import type { RunResult } from '../report/result.ts';
import type { Timeline } from '../report/timeline.ts';
import { entityName } from '../report/timeline.ts';
import type { Violation } from '../report/violation.ts';

export interface HtmlFinding {
  title: string;
  signature?: string;
  strategy?: string;
  occurrences?: number;
  reproPath?: string;
  replay?: string;
}

export interface HtmlReport {
  /** What produced it: "run", "fuzz", "replay", "merge". */
  command: string;
  /** The command line, as typed. */
  commandLine: string;
  verdict: 'clean' | 'violation' | 'known issues only' | 'interrupted' | 'incomplete' | 'reproduced' | 'different' | 'not reproduced' | 'bad input';
  /** Lines under the verdict (runs, residual risk...). */
  summary: string[];
  runs?: readonly RunResult[];
  findings?: readonly HtmlFinding[];
  /** The run whose interleaving and lockdep graph are drawn (a failing one, with its timeline). */
  focus?: RunResult;
  /** The violation the report is about (the finding, or the one a replay confirmed); else the run's first that counts. */
  focusViolation?: Violation;
  /** The command that replays the focus run. */
  replay?: string;
  /** The kernel(s) that ran (default: the runs' and the focus run's). */
  kernels?: readonly string[];
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

// ---- the timeline ----

interface Span {
  entity: number;
  name: string;
  kind: 'op' | 'irq' | 'lock' | 'wait';
  start: number;
  end: number;
  depth: number;
  open: boolean;
}

/** Function spans, lock holds and waits of a timeline; spans still open end at `last`. */
export function timelineSpans(t: Timeline, last: number): Span[] {
  const spans: Span[] = [];
  const stacks: { name: string; start: number }[][] = Array.from({ length: t.cpus + 1 }, () => []);
  const held = new Map<string, { entity: number; name: string; start: number; kind: 'lock' | 'wait' }>();
  for (const ev of t.events) {
    const st = stacks[ev.entity]!;
    if (ev.kind === 'enter') st.push({ name: ev.name, start: ev.step });
    else if (ev.kind === 'leave') {
      const f = st.pop();
      if (f) spans.push({ entity: ev.entity, name: f.name, kind: f.name === 'handle_irq' ? 'irq' : 'op', start: f.start, end: ev.step, depth: st.length, open: false });
    } else if (ev.kind === 'wait') held.set(`w${ev.entity}:${ev.name}`, { entity: ev.entity, name: ev.name, start: ev.step, kind: 'wait' });
    else if (ev.kind === 'acquire') {
      const w = held.get(`w${ev.entity}:${ev.name}`);
      if (w) {
        held.delete(`w${ev.entity}:${ev.name}`);
        spans.push({ entity: ev.entity, name: ev.name, kind: 'wait', start: w.start, end: ev.step, depth: 0, open: false });
      }
      held.set(`h${ev.entity}:${ev.name}`, { entity: ev.entity, name: ev.name, start: ev.step, kind: 'lock' });
    } else if (ev.kind === 'release') {
      const h = held.get(`h${ev.entity}:${ev.name}`);
      if (h) {
        held.delete(`h${ev.entity}:${ev.name}`);
        spans.push({ entity: ev.entity, name: ev.name, kind: 'lock', start: h.start, end: ev.step, depth: 0, open: false });
      }
    }
  }
  for (const [e, st] of stacks.entries()) st.forEach((f, d) => spans.push({ entity: e, name: f.name, kind: f.name === 'handle_irq' ? 'irq' : 'op', start: f.start, end: last, depth: d, open: true }));
  for (const h of held.values()) spans.push({ entity: h.entity, name: h.name, kind: h.kind, start: h.start, end: last, depth: 0, open: true });
  return spans;
}

const STEP_W = 22;
const ROW_H = 96;
const LEFT = 92;
const LOCK_COLORS = ['#d97706', '#2563eb', '#7c3aed', '#059669', '#db2777', '#0891b2', '#65a30d', '#dc2626'];

/** Where the rows of the timeline start: below a band for the violation's label and the step axis. */
const TOP = 48;

/**
 * An SVG of the steps [from, to] of a timeline: a row per entity, the
 * violation marked (its label in a band of its own above the rows). No
 * label is crossed by a line: a function's name goes in the widest part of
 * its bar that no context-switch arrow or violation line crosses.
 */
export function timelineSvg(t: Timeline, v: Violation | undefined, o: { before?: number; after?: number } = {}): string {
  const lastStep = t.events.length ? t.events[t.events.length - 1]!.step : 0;
  const center = v ? v.step : lastStep;
  const from = Math.max(0, center - (o.before ?? 30));
  const to = Math.max(from + 1, Math.min(Math.max(lastStep, center), center + (o.after ?? 4)));
  const x = (step: number): number => LEFT + (step - from) * STEP_W;
  const width = x(to + 1) + 20;
  const rows = t.cpus + 1;
  const height = TOP + rows * ROW_H + 20;
  const rowMid = (e: number): number => TOP + e * ROW_H + ROW_H / 2;
  const lockNames = [...new Set(t.events.filter((e) => e.kind === 'acquire' || e.kind === 'wait').map((e) => e.name))];
  const color = (n: string): string => LOCK_COLORS[lockNames.indexOf(n) % LOCK_COLORS.length]!;
  // the vertical lines drawn across the rows, for the labels to keep clear of
  const xv = v ? x(v.step) + STEP_W / 2 : -1;
  const verticals: { x: number; y1: number; y2: number }[] = [];
  const switches = t.events.filter((ev) => ev.kind === 'switch' && ev.step >= from && ev.step <= to);
  for (const ev of switches) verticals.push({ x: x(ev.step) + STEP_W / 2, y1: Math.min(rowMid(ev.entity), rowMid(ev.to!)), y2: Math.max(rowMid(ev.entity), rowMid(ev.to!)) });
  if (v) verticals.push({ x: xv, y1: TOP - 8, y2: height - 16 });
  /** The widest stretch of [a, b] at heights [y1, y2] that no vertical line crosses. */
  const freeStretch = (a: number, b: number, y1: number, y2: number): [number, number] => {
    const cuts = verticals.filter((l) => l.x > a && l.x < b && l.y1 < y2 && l.y2 > y1).map((l) => l.x).sort((p, q) => p - q);
    let best: [number, number] = [a, a];
    let prev = a;
    for (const c of [...cuts, b]) {
      const seg: [number, number] = [prev + (prev === a ? 0 : 3), c - (c === b ? 0 : 3)];
      if (seg[1] - seg[0] > best[1] - best[0]) best = seg;
      prev = c;
    }
    return best;
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="interleaving of steps ${from} to ${to}">`);
  // the step axis
  for (let st = from; st <= to; st++) {
    if ((st - from) % 5 === 0) {
      parts.push(`<line x1="${x(st)}" y1="${TOP - 8}" x2="${x(st)}" y2="${height - 16}" stroke="#e5e7eb"/>`);
      parts.push(`<text x="${x(st)}" y="${TOP - 12}" font-size="10" text-anchor="middle" fill="#6b7280">${st}</text>`);
    }
  }
  for (let e = 0; e < rows; e++) {
    const y0 = TOP + e * ROW_H;
    parts.push(`<text x="8" y="${y0 + 18}" font-size="12" font-weight="600" class="entity">${esc(entityName(e, t.cpus))}</text>`);
    parts.push(`<line x1="${LEFT}" y1="${y0 + ROW_H - 6}" x2="${width - 20}" y2="${y0 + ROW_H - 6}" stroke="#d1d5db"/>`);
  }
  const spans = timelineSpans(t, Math.max(lastStep, center));
  for (const sp of spans) {
    if (sp.end < from || sp.start > to) continue;
    const a = x(Math.max(sp.start, from));
    const b = x(Math.min(sp.end, to) + 1);
    const y0 = TOP + sp.entity * ROW_H;
    const title = `<title>${esc(`${sp.kind === 'lock' ? 'holds ' : sp.kind === 'wait' ? 'waits for ' : ''}${sp.name}: steps ${sp.start}-${sp.end}${sp.open ? ' (unfinished)' : ''}`)}</title>`;
    if (sp.kind === 'op' || sp.kind === 'irq') {
      const y = y0 + 4 + Math.min(sp.depth, 4) * 11;
      const fill = sp.kind === 'irq' ? '#fca5a5' : ['#bfdbfe', '#c7d2fe', '#ddd6fe', '#e9d5ff', '#f5d0fe'][Math.min(sp.depth, 4)]!;
      parts.push(`<g class="span ${sp.kind}"><rect x="${a}" y="${y}" width="${Math.max(2, b - a - 1)}" height="10" rx="2" fill="${fill}" stroke="#6b7280" stroke-width="0.5"/>${title}`);
      const [la, lb] = freeStretch(a + 3, b - 3, y, y + 10);
      if (lb - la > 24) parts.push(`<text x="${la}" y="${y + 8}" font-size="8">${esc(fitText(sp.name, lb - la, 8))}</text>`);
      parts.push('</g>');
    } else {
      const li = lockNames.indexOf(sp.name);
      const y = y0 + 62 + (li % 3) * 8;
      const dash = sp.kind === 'wait' ? ' stroke-dasharray="3 2"' : '';
      parts.push(`<g class="${sp.kind === 'wait' ? 'lock-wait' : 'lock-hold'}"><line x1="${a}" y1="${y}" x2="${b}" y2="${y}" stroke="${color(sp.name)}" stroke-width="5"${dash}/>${title}</g>`);
    }
  }
  // context switches: a small arrow from the entity that gives the token to the one that takes it
  for (const ev of switches) {
    const xs = x(ev.step) + STEP_W / 2;
    parts.push(`<line class="switch" x1="${xs}" y1="${rowMid(ev.entity)}" x2="${xs}" y2="${rowMid(ev.to!)}" stroke="#9ca3af" stroke-width="1" marker-end="url(#arrow)"/>`);
  }
  if (v) {
    // the label names the finding's violation in the band above the rows, on the side of the line with more room, cut to fit
    const right = width - xv - 8, left = xv - 8;
    const label = fitText(`${v.title} (${entityName(Math.max(0, v.cpu), t.cpus)}, step ${v.step})`, Math.max(right, left), 11);
    const tx = right >= left ? xv + 4 : xv - 4;
    parts.push(`<g id="violation-marker"><line x1="${xv}" y1="${TOP - 8}" x2="${xv}" y2="${height - 16}" stroke="#dc2626" stroke-width="2"/><text x="${tx}" y="14" font-size="11" fill="#dc2626" font-weight="700" text-anchor="${right >= left ? 'start' : 'end'}">${esc(label)}<title>${esc(v.title)}</title></text></g>`);
  }
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#9ca3af"/></marker></defs>');
  parts.push('</svg>');
  const legend = lockNames.map((n) => `<span class="key"><span class="swatch" style="background:${color(n)}"></span>${esc(n)}</span>`).join(' ');
  return `<p class="legend">steps ${from}–${to}${t.lost ? ` (${t.lost} older events not kept)` : ''}. Bars: the functions each entity was in (nested by depth; red: the hardirq handler). Lines: locks held (solid) and waited for (dashed): ${legend || 'none'}. Grey arrows: context switches.${v ? ' Red line: the violation.' : ''}</p>${parts.join('')}`;
}

/** A label cut (with an ellipsis) to what `px` pixels hold at this font size (0.62 em per character, bold sans). */
function fitText(text: string, px: number, fontSize: number): string {
  const fits = Math.max(4, Math.floor(px / (fontSize * 0.62)));
  return text.length <= fits ? text : `${text.slice(0, fits - 1)}…`;
}

// ---- the lockdep graph ----

export function lockdepSvg(graph: NonNullable<RunResult['lockdepExport']>['graph'], v: Violation | undefined): string {
  const n = graph.nodes.length;
  const size = 620;
  const r = 200;
  const cx = size / 2, cy = size / 2;
  const pos = new Map(graph.nodes.map((node, i) => [node.name, { x: cx + r * Math.cos((2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2), y: cy + r * Math.sin((2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2) }]));
  // the classes the report names, as lockdep prints them: "(pcpu_lock){-.+.}"
  const hot = new Set(v ? graph.nodes.filter((node) => v.text.includes(`(${node.name}){`)).map((node) => node.name) : []);
  const nodeWidth = (name: string): number => Math.max(70, name.length * 7 + 12);
  const nodeBoxes = graph.nodes.map((node) => {
    const p = pos.get(node.name)!;
    const w = nodeWidth(node.name);
    return { l: p.x - w / 2, r: p.x + w / 2, t: p.y - 16, b: p.y + 16 };
  });
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" id="lockdep-graph" class="graph" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="lockdep dependency graph">`];
  parts.push('<defs><marker id="dep" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker><marker id="dep-hot" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#dc2626"/></marker></defs>');
  for (const e of graph.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    // stop short of the node's box
    const dx = b.x - a.x, dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const k = 38 / len;
    const isHot = hot.has(e.from) && hot.has(e.to);
    parts.push(`<line class="edge${isHot ? ' hot' : ''}" x1="${a.x + dx * k}" y1="${a.y + dy * k}" x2="${b.x - dx * k}" y2="${b.y - dy * k}" stroke="${isHot ? '#dc2626' : '#374151'}" stroke-width="${isHot ? 3 : 1.2}" marker-end="url(#${isHot ? 'dep-hot' : 'dep'})"><title>${esc(`${e.from} -> ${e.to} (first seen in ${e.at})`)}</title></line>`);
  }
  // the dependency the report is about, which lockdep refused to add: held -> wanted
  const refused: string[] = [];
  const wanted = v ? /trying to acquire lock:\n \((.+)\)\{[^}]*\}/.exec(v.text)?.[1] : undefined;
  const holding = v ? /already holding lock:\n \((.+)\)\{[^}]*\}/.exec(v.text)?.[1] : undefined;
  if (wanted && holding && pos.has(wanted) && pos.has(holding)) {
    // its own arrow, never on top of the edge back (which lockdep has): bowed out to one side, dashed, labelled
    const a = pos.get(holding)!, b = pos.get(wanted)!;
    const dx = b.x - a.x, dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const k = 38 / len;
    const sx = a.x + dx * k, sy = a.y + dy * k, ex = b.x - dx * k, ey = b.y - dy * k;
    // the control point: off the middle, perpendicular to the chord, by a third of its length
    const bow = Math.max(40, len / 3);
    const mx = (a.x + b.x) / 2 - (dy / len) * bow, my = (a.y + b.y) / 2 + (dx / len) * bow;
    // the label beside the curve, on a white halo: the first place near its apex where it covers no
    // node and not the arrowhead (the marker reaches 7 x 3 px back from the curve's end)
    const label = `refused: ${holding} → ${wanted}`;
    const half = (label.length * 10 * 0.62) / 2;
    const head = 24;
    const clear = (tx: number, ty: number): boolean => {
      const l = tx - half, r = tx + half, t = ty - 11, b = ty + 3;
      if (l < 2 || r > size - 2 || t < 2 || b > size - 2) return false;
      const nx = Math.max(l, Math.min(ex, r)), ny = Math.max(t, Math.min(ey, b));
      if (Math.hypot(nx - ex, ny - ey) <= head) return false;
      return nodeBoxes.every((n) => r < n.l - 3 || l > n.r + 3 || b < n.t - 3 || t > n.b + 3);
    };
    let tx = 0, ty = 0;
    search: for (const off of [16, 24, 32, 44, 56, 72, 90, 110, 130]) {
      for (const at of [0.5, 0.4, 0.6, 0.3, 0.7]) {
        const px = (1 - at) ** 2 * sx + 2 * (1 - at) * at * mx + at ** 2 * ex, py = (1 - at) ** 2 * sy + 2 * (1 - at) * at * my + at ** 2 * ey;
        for (const side of [1, -1]) {
          tx = px - side * (dy / len) * off;
          ty = py + side * (dx / len) * off + 4;
          if (clear(tx, ty)) break search;
        }
      }
    }
    tx = Math.min(size - 4 - half, Math.max(4 + half, tx));
    ty = Math.min(size - 6, Math.max(14, ty));
    refused.push(`<g class="refused"><path class="edge hot attempted" d="M ${sx.toFixed(1)} ${sy.toFixed(1)} Q ${mx.toFixed(1)} ${my.toFixed(1)} ${ex.toFixed(1)} ${ey.toFixed(1)}" fill="none" stroke="#dc2626" stroke-width="3" stroke-dasharray="6 4" marker-end="url(#dep-hot)"><title>${esc(`${holding} -> ${wanted}: the dependency this report is about (lockdep refused to add it)`)}</title></path>` +
      `<text class="refused-label" x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" font-size="10" text-anchor="middle" fill="#dc2626" font-weight="700" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(label)}</text></g>`);
  }
  for (const node of graph.nodes) {
    const p = pos.get(node.name)!;
    const isHot = hot.has(node.name);
    const w = nodeWidth(node.name);
    parts.push(`<g class="node${isHot ? ' hot' : ''}"><rect x="${p.x - w / 2}" y="${p.y - 16}" width="${w}" height="32" rx="4" fill="${isHot ? '#fee2e2' : '#f9fafb'}" stroke="${isHot ? '#dc2626' : '#6b7280'}"/><text x="${p.x}" y="${p.y - 2}" font-size="11" text-anchor="middle">${esc(node.name)}</text><text x="${p.x}" y="${p.y + 11}" font-size="9" text-anchor="middle" fill="#6b7280">${esc(node.usage)}</text></g>`);
  }
  parts.push(...refused);
  parts.push('</svg>');
  return parts.join('');
}

// ---- the page ----

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111827;max-width:1280px;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:700;color:#fff}
.v-clean{background:#059669}.v-bad{background:#dc2626}.v-other{background:#d97706}
pre{background:#f3f4f6;padding:10px;overflow:auto;font-size:12px;border-radius:4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:right}th{background:#f9fafb}td:first-child,th:first-child{text-align:left}
.legend{color:#4b5563;font-size:12px}.key{white-space:nowrap;margin-right:8px}.swatch{display:inline-block;width:12px;height:6px;margin-right:4px;vertical-align:middle}
.scroll{overflow-x:auto;border:1px solid #e5e7eb}code{background:#f3f4f6;padding:1px 4px;border-radius:3px}
@media (max-width:640px){body{margin:12px}table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;border:0}table.cards tr:first-child{display:none}
table.cards tr{border:1px solid #e5e7eb;border-radius:4px;margin:0 0 8px;padding:4px 8px}table.cards td{text-align:left;padding:1px 0}
table.cards td::before{content:attr(data-label) ": ";color:#6b7280}}`;

function verdictClass(v: HtmlReport['verdict']): string {
  return v === 'clean' || v === 'known issues only' || v === 'not reproduced' ? 'v-clean' : v === 'violation' || v === 'reproduced' || v === 'different' ? 'v-bad' : 'v-other';
}

/** A table of rows of cells under a header; on a phone each row becomes a card of "header: value" lines. */
function cardTable(id: string, head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const tr = (cells: readonly (string | number)[]): string => `<tr>${cells.map((c, i) => `<td data-label="${esc(head[i]!)}">${typeof c === 'number' ? c : c}</td>`).join('')}</tr>`;
  return `<table id="${id}" class="cards"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map(tr).join('')}</table>`;
}

function runTables(runs: readonly RunResult[]): string {
  const runs1 = cardTable('runs', ['scenario', 'verdict', 'cpus', 'seed', 'strategy', 'alloc', 'free', 'irq-free', 'failed', 'chunks created', 'destroyed'],
    runs.map((r) => [esc(r.scenario), esc(r.status), r.cpus, r.seed, esc(r.strategy), r.ops.alloc, r.ops.free, r.ops.irqsHandled, r.ops.failed, r.chunksCreated, r.chunksDestroyed]));
  const stats = cardTable('percpu-stats', ['scenario', 'seed', 'nr_alloc', 'nr_dealloc', 'nr_cur_alloc', 'nr_max_alloc', 'nr_chunks', 'nr_max_chunks', 'min_alloc_size', 'max_alloc_size'],
    runs.map((r) => [esc(r.scenario), r.seed, r.stats.nr_alloc, r.stats.nr_dealloc, r.stats.nr_cur_alloc, r.stats.nr_max_alloc, r.stats.nr_chunks, r.stats.nr_max_chunks, r.stats.min_alloc_size, r.stats.max_alloc_size]));
  return `${runs1}<p class="legend">The kernel's <code>percpu_stats</code> at the end of each run:</p>${stats}`;
}

/** Every known issue of 2.6.35 the runs met, with how many runs met it. */
function knownIssues(runs: readonly RunResult[]): string {
  const count = new Map<string, { n: number; title: string }>();
  for (const r of runs) {
    for (const v of r.violations) {
      if (v.known === undefined || v.suppressed) continue;
      const c = count.get(v.known) ?? { n: 0, title: v.title };
      if (!r.violations.slice(0, r.violations.indexOf(v)).some((x) => x.known === v.known && !x.suppressed)) c.n++;
      count.set(v.known, c);
    }
  }
  if (!count.size) return '';
  const items = [...count].sort(([a], [b]) => a.localeCompare(b)).map(([id, c]) => `<li><code>${esc(id)}</code>: ${plural(c.n, 'run')} (${esc(c.title)})</li>`);
  return `<h2>Known issues of 2.6.35 met</h2><p class="legend">Bugs the 2.6.35 baseline really has, recognised by their mechanism; they do not fail a run unless --strict-known.</p><ul id="known-issues">${items.join('')}</ul>`;
}

export function renderHtml(r: HtmlReport): string {
  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>percpu-stress ${esc(r.command)}: ${esc(r.verdict)}</title><style>${CSS}</style></head><body>`);
  const kernels = r.kernels ?? [...new Set([...(r.runs ?? []), ...(r.focus ? [r.focus] : [])].map((x) => x.kernel))];
  out.push(`<h1>percpu-stress ${esc(r.command)}${kernels.length ? ` <small id="kernel">Linux ${esc(kernels.join(' and '))}</small>` : ''}</h1><p><span class="verdict ${verdictClass(r.verdict)}" id="verdict">${esc(r.verdict)}</span></p>`);
  out.push(`<p><code>${esc(r.commandLine)}</code></p>`);
  if (r.summary.length) out.push(`<ul>${r.summary.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`);
  if (r.findings?.length) {
    out.push(`<h2>Findings</h2>${cardTable('findings', ['violation', 'signature', 'found by', 'failing runs', 'repro'],
      r.findings.map((f) => [esc(f.title), esc(f.signature ?? ''), esc(f.strategy ?? ''), f.occurrences ?? '', f.replay ? `<code>${esc(f.replay)}</code>` : esc(f.reproPath ?? '')]))}`);
  }
  if (r.runs?.length) out.push(`<h2>Runs</h2>${runTables(r.runs)}${knownIssues(r.runs)}`);
  const f = r.focus;
  if (f) {
    const v = (r.focusViolation && f.violations.includes(r.focusViolation) ? r.focusViolation : undefined) ?? f.violations.find((x) => !x.known && !x.suppressed) ?? f.violations[0];
    const what = f.status === 'violation' ? 'The failing run' : f.status === 'known' ? `The run (known issues of ${f.kernel} only: it did not fail)` : 'The run';
    out.push(`<h2>${what}: ${esc(f.scenario)}, seed ${f.seed}, ${plural(f.cpus, 'CPU')}</h2>`);
    if (r.replay) out.push(`<p>Replay it exactly: <code id="replay-command">${esc(r.replay)}</code></p>`);
    out.push(`<h2>${!v ? 'The interleaving of the run (its last steps)' : v.known !== undefined || v.suppressed ? `The interleaving around the ${v.known !== undefined ? 'known issue' : 'suppressed finding'} (it did not fail the run)` : 'The interleaving around the violation'}</h2>`);
    out.push(f.timeline ? `<div class="scroll">${timelineSvg(f.timeline, v)}</div>` : '<p>(a free-running run has no step order to draw: replay a repro, or run with --strategy)</p>');
    if (f.lockdepExport) {
      out.push('<h2>The lockdep dependency graph</h2><p class="legend">An arrow A → B: B was taken while A was held. Red: the classes the lockdep report names and the dependencies between them (the cycle, or the irq-safe → irq-unsafe edge); dashed: the dependency the report is about, which lockdep did not add.</p>');
      out.push(`<div class="scroll">${lockdepSvg(f.lockdepExport.graph, f.violations.find((x) => x.kind.startsWith('lockdep')) ?? v)}</div>`);
    }
    out.push('<h2>The reports</h2>');
    // the finding's own report open, the others a click away
    f.violations.forEach((x) => out.push(`<details${x === v ? ' open class="finding"' : ''}><summary>${esc(x.title)}${x.known ? ` (known issue ${esc(x.known)}${x.knownProof === 'fix-verified' ? ', fix-verified' : ''})` : ''}</summary><pre class="violation">${esc(x.text)}</pre></details>`));
  }
  out.push(`<p class="legend">percpu-stress report; every number above is from the run itself. Steps are scheduling steps, not time.</p>`);
  out.push('</body></html>\n');
  return out.join('\n');
}

/** The command line as typed, for the report (arguments with spaces quoted). */
export function commandLineOf(argv: readonly string[]): string {
  return ['npx percpu-stress', ...argv.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
}
