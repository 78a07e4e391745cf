// The HTML report, opened in a real headless Chromium (driven by
// puppeteer-core, a dev dependency, on the system's browser) as a desktop
// window and as a phone: the verdict, the timeline and the lockdep graph,
// measured once laid out by a probe this test injects, and a screenshot of
// each kept as an artifact (test/artifacts/report-1280.png, -390.png).
// Without a browser the browser test is skipped, and its title says so.

import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findChromium } from './browser.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const ARTIFACTS = new URL('artifacts/', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A failing run's report: fuzz finds the lock inversion, replay writes the HTML. */
function report(): string {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-html-'));
  const fz = cli(['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--runs', '40', '--shrink-budget', '10m', '--budget', '10m', '--seed', '1', '--out', dir, '--html', join(dir, 'fuzz.html'), '--quiet']);
  if (fz.code !== 1) throw new Error(`fuzz: ${fz.code} ${fz.err}`);
  const repro = join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
  const html = join(dir, 'report.html');
  const r = cli(['replay', repro, '--html', html, '--quiet', '--lockdep-out', join(dir, 'lockdep')]);
  if (r.code !== 1) throw new Error(`replay: ${r.code} ${r.err}`);
  return html;
}

test('the HTML report is one self-contained file with the verdict, the timeline, the graph and the replay command', (t) => {
  const html = readFileSync(report(), 'utf8');
  t.regex(html, /<span class="verdict v-bad" id="verdict">reproduced<\/span>/);
  t.regex(html, /<svg [^>]*id="timeline"/);
  t.regex(html, /<svg [^>]*id="lockdep-graph"/);
  t.regex(html, /<code id="replay-command">npx percpu-stress replay \S+repro-[0-9a-f]+\.json<\/code>/);
  t.regex(html, /class="edge hot/);
  t.regex(html, /WARNING: possible circular locking dependency detected/);
  // the refused dependency is an arrow of its own: a curve, dashed, labelled, on no other edge's line
  const refused = /<path class="edge hot attempted" d="M ([\d.]+) ([\d.]+) Q ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)"[^>]*stroke-dasharray/.exec(html);
  t.truthy(refused, 'a dashed curve for the refused edge');
  const [sx, sy, mx, my, ex, ey] = refused!.slice(1).map(Number) as [number, number, number, number, number, number];
  // the curve bows away from the chord between its ends
  const chord = Math.hypot(ex - sx, ey - sy);
  const off = Math.abs((ex - sx) * (sy - my) - (sx - mx) * (ey - sy)) / chord;
  t.true(off > 20, `bowed by ${off.toFixed(0)} px`);
  for (const m of html.matchAll(/<line class="edge[^"]*" x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"/g)) {
    const [x1, y1, x2, y2] = m.slice(1).map(Number) as [number, number, number, number];
    t.false(Math.hypot(x1 - sx, y1 - sy) < 1 && Math.hypot(x2 - ex, y2 - ey) < 1, 'not drawn over an existing edge');
  }
  t.regex(html, /<text class="refused-label"[^>]*>refused: \S+ → \S+<\/text>/);
  // the finding's own splat is open, and the page is laid out for 1280 px
  t.regex(html, /<details open class="finding"><summary>WARNING: possible circular locking dependency detected/);
  t.regex(html, /max-width:1280px/);
  t.notRegex(html, /The failing run: .*known issues/);
  // offline: nothing is fetched
  t.notRegex(html, /(src|href)="https?:/);
});

test('the lockdep files name the kworker as the reports do and the DOT graph marks what the report is about', (t) => {
  const dir = join(report(), '..', 'lockdep');
  const dot = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.lockdep.dot'))!), 'utf8');
  const proc = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.lockdep'))!), 'utf8');
  // a 2-CPU run: cpu0, cpu1 and the kworker; no cpu2
  t.regex(dot, /label="kworker\/0:1: /);
  t.notRegex(dot + proc, /cpu2/);
  t.regex(proc, /first seen on kworker\/0:1 at /);
  t.regex(dot, /c\d+ -> c\d+ \[label="[^"]+", color=red, penwidth=2\];/);
  t.regex(dot, /\[label="refused: the dependency the report is about", color=red, style=dashed, penwidth=2\];/);
});

/** What a page looks like once laid out, measured in it (the probe below). */
interface Layout {
  /** The layout viewport's width (980 on a phone when the page has no viewport meta tag). */
  layoutWidth: number;
  /** How far the page reaches past the window sideways. */
  overflow: number;
  /** Text outside a scrolling box (drawings and wide tables scroll inside their own) that the window cuts off. */
  cut: string[];
  /** The smallest font size (px) of the page's text (drawings apart). */
  minFont: number;
  timeline: { labelsOutside: number; labelsCrossed: string[] } | null;
  graph: { labelsOutside: number; refusedLabelOnArrowhead: boolean; overlaps: string[] } | null;
}

/**
 * Runs in the page: the measurements of Layout. (Plain JavaScript in a
 * string: the project's TypeScript has no DOM types, on purpose.)
 */
const PROBE = `(() => {
  const box = (e) => { const b = e.getBBox(); return { l: b.x, r: b.x + b.width, t: b.y, b: b.y + b.height }; };
  const outside = (svg) => {
    const r = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('text')].filter((t) => {
      const q = t.getBoundingClientRect();
      return q.left < r.left - 0.5 || q.right > r.right + 0.5 || q.top < r.top - 0.5 || q.bottom > r.bottom + 0.5;
    }).length;
  };
  const width = document.documentElement.clientWidth;
  const cut = [];
  let minFont = 99;
  for (const e of document.body.querySelectorAll('p,li,td,th,code,summary,h1,h2,span')) {
    if (!e.textContent.trim() || !e.getClientRects().length || e.closest('svg')) continue;
    minFont = Math.min(minFont, parseFloat(getComputedStyle(e).fontSize));
    if (!e.closest('.scroll') && e.getBoundingClientRect().right > width + 0.5) cut.push(e.textContent.trim().slice(0, 40));
  }
  const tl = document.querySelector('#timeline');
  let timeline = null;
  if (tl) {
    // the lines drawn over the rows: context switches and the violation's line
    const lines = [...tl.querySelectorAll('line.switch, #violation-marker line')].map((l) => ({ x: +l.getAttribute('x1'), y1: Math.min(+l.getAttribute('y1'), +l.getAttribute('y2')), y2: Math.max(+l.getAttribute('y1'), +l.getAttribute('y2')) }));
    const crossed = [...tl.querySelectorAll('text')].filter((t) => {
      const b = box(t);
      return lines.some((l) => l.x > b.l + 0.5 && l.x < b.r - 0.5 && l.y2 > b.t && l.y1 < b.b);
    }).map((t) => t.textContent);
    timeline = { labelsOutside: outside(tl), labelsCrossed: crossed };
  }
  const g = document.querySelector('#lockdep-graph');
  let graph = null;
  if (g) {
    const path = g.querySelector('path.attempted');
    const label = g.querySelector('.refused-label');
    let on = false;
    if (path && label) {
      // the arrowhead: the marker drawn back from the path's end (7 x its 3 px stroke)
      const end = path.getPointAtLength(path.getTotalLength());
      const b = box(label);
      const nx = Math.max(b.l, Math.min(end.x, b.r)), ny = Math.max(b.t, Math.min(end.y, b.b));
      on = Math.hypot(nx - end.x, ny - end.y) < 14;
    }
    // texts that cover a box or another text they do not belong to
    const texts = [...g.querySelectorAll('text')];
    const boxes = [...g.querySelectorAll('g.node rect')];
    const hit = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
    const overlaps = [];
    for (const [i, t] of texts.entries()) {
      const tb = box(t);
      for (const u of texts.slice(i + 1)) if (hit(tb, box(u))) overlaps.push(t.textContent + ' / ' + u.textContent);
      for (const r of boxes) if (r.parentNode !== t.parentNode && hit(tb, box(r))) overlaps.push(t.textContent + ' on a node');
    }
    graph = { labelsOutside: outside(g), refusedLabelOnArrowhead: on, overlaps };
  }
  return { layoutWidth: width, overflow: Math.max(0, document.documentElement.scrollWidth - width), cut, minFont, timeline, graph };
})()`;

test('run --html lists every known issue the runs met and does not call a run without a failure failing; fuzz --html of one run keeps its summary', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-html-'));
  const run = cli(['run', 'all', '--cpus', '2', '--ops', '200', '--quiet', '--html', join(dir, 'run.html')]);
  t.is(run.code, 0, run.err);
  const met = [...(/known issues of the 2\.6\.35 baseline met: (.*); they do not fail/.exec(run.out)?.[1] ?? '').matchAll(/([\w-]+) \(\d+ runs?\)/g)].map((m) => m[1]!);
  t.true(met.length >= 2, run.out);
  const page = readFileSync(join(dir, 'run.html'), 'utf8');
  const listed = [...(/<ul id="known-issues">(.*?)<\/ul>/.exec(page)?.[1] ?? '').matchAll(/<code>([\w-]+)<\/code>/g)].map((m) => m[1]!);
  t.deepEqual(listed, [...met].sort());
  t.notRegex(page, /The interleaving around the violation/);
  t.notRegex(page, /The failing run/);
  const fz = cli(['fuzz', 'irq-free', '--runs', '1', '--quiet', '--html', join(dir, 'fuzz.html')]);
  t.is(fz.code, 0, fz.err);
  t.regex(readFileSync(join(dir, 'fuzz.html'), 'utf8'), /<li>1 run in [\d.]+ s/);
});

const bin = findChromium();
const VIEWS = [
  { name: 'desktop', width: 1280, height: 800, isMobile: false },
  { name: 'phone', width: 390, height: 844, isMobile: true },
] as const;

if (bin === null) {
  test.skip('the HTML report renders in headless Chromium (skipped: no Chromium found; install Debian\'s chromium, set $CHROMIUM, or run .ci/run, which installs it)', () => {});
} else {
  test('the HTML report in headless Chromium at 1280x800 and as a 390x844 phone: laid out to the window, nothing cut off, no label under a line, text readable; screenshots kept', async (t) => {
    const file = report();
    const { default: puppeteer } = await import('puppeteer-core');
    const browser = await puppeteer.launch({ executablePath: bin, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      mkdirSync(ARTIFACTS, { recursive: true });
      for (const v of VIEWS) {
        const page = await browser.newPage();
        await page.emulate({ viewport: { width: v.width, height: v.height, deviceScaleFactor: v.isMobile ? 2 : 1, isMobile: v.isMobile, hasTouch: v.isMobile }, userAgent: v.isMobile ? 'Mozilla/5.0 (Linux; Android 14; Pixel) Mobile' : 'Mozilla/5.0 (X11; Linux x86_64)' });
        await page.goto(`file://${file}`, { waitUntil: 'load' });
        const m = (await page.evaluate(PROBE)) as Layout;
        t.is(m.layoutWidth, v.width, `${v.name}: laid out at the window's width`);
        t.is(m.overflow, 0, `${v.name}: the page reaches past the window`);
        t.deepEqual(m.cut, [], `${v.name}: text cut off`);
        t.true(m.minFont >= 12, `${v.name}: smallest text ${m.minFont}px`);
        t.deepEqual(m.timeline, { labelsOutside: 0, labelsCrossed: [] }, `${v.name}: timeline`);
        t.deepEqual(m.graph, { labelsOutside: 0, refusedLabelOnArrowhead: false, overlaps: [] }, `${v.name}: graph`);
        const png = join(ARTIFACTS, `report-${v.width}.png`);
        await page.screenshot({ path: png as `${string}.png`, fullPage: true });
        t.true(statSync(png).size > 20_000, png);
        t.log(`screenshot: ${png}`);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  });
}
