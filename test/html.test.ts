// The HTML report, opened in a real headless Chromium: the verdict, the
// timeline and the lockdep graph are rendered (laid out with a size, the
// offending edges highlighted), and a screenshot is kept as an artifact
// (test/artifacts/report.png). Without a browser the test is skipped, and
// its title says so.

import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium, findChromium } from './browser.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const ARTIFACTS = new URL('artifacts/', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A failing run's report: fuzz finds the lock inversion, replay writes the HTML. */
function report(): string {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-html-'));
  const fz = cli(['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--runs', '40', '--seed', '1', '--out', dir, '--html', join(dir, 'fuzz.html'), '--quiet']);
  if (fz.code !== 1) throw new Error(`fuzz: ${fz.code} ${fz.err}`);
  const repro = join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
  const html = join(dir, 'report.html');
  const r = cli(['replay', repro, '--html', html, '--quiet']);
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

const bin = findChromium();
if (bin === null) {
  test.skip('the HTML report renders in headless Chromium (skipped: no Chromium found; install Debian\'s chromium, set $CHROMIUM, or run .ci/run, which installs it)', () => {});
} else {
  test('the HTML report renders in headless Chromium: timeline and graph laid out, screenshot kept', (t) => {
    const file = report();
    const url = `file://${file}`;
    const dom = chromium(bin, url, ['--dump-dom']);
    t.is(dom.code, 0, dom.err.slice(-2000));
    // the page measured its own drawings once laid out: "timeline:WxH:shapes graph:WxH:shapes"
    const m = /data-rendered="timeline:(\d+)x(\d+):(\d+):(\d+) graph:(\d+)x(\d+):(\d+):(\d+)"/.exec(dom.out);
    t.truthy(m, dom.out.slice(0, 500));
    const [tw, th, tn, tover, gw, gh, gn, gover] = m!.slice(1).map(Number) as [number, number, number, number, number, number, number, number];
    // no label reaches past its drawing
    t.is(tover, 0, 'timeline labels outside the timeline');
    t.is(gover, 0, 'graph labels outside the graph');
    t.true(tw > 300 && th > 100 && tn > 20, `timeline ${tw}x${th}, ${tn} shapes`);
    t.true(gw > 100 && gh > 100 && gn >= 4, `graph ${gw}x${gh}, ${gn} shapes`);
    t.regex(dom.out, /<g id="violation-marker">/);
    t.regex(dom.out, /<line class="edge hot/);
    mkdirSync(ARTIFACTS, { recursive: true });
    const png = join(ARTIFACTS, 'report.png');
    const shot = chromium(bin, url, [`--screenshot=${png}`, '--window-size=1280,1600']);
    t.is(shot.code, 0, shot.err.slice(-2000));
    const bytes = readFileSync(png);
    t.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
    t.true(statSync(png).size > 20_000);
    t.log(`screenshot: ${png}`);
  });
}
