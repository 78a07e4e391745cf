// The bench command's shape (its numbers are the bench's business, never a
// test's): every table is there and every measurement is a number.

import test from 'ava';
import { bench, renderBench, throughput } from '../src/explore/bench.ts';
import type { RunOptions, RunResult } from '../src/run/main/runner.ts';
import { BUGS } from '../src/percpu/2.6.35/variants.ts';
import { KNOWN_ISSUES } from '../src/check/known.ts';
import { KNOWN_ISSUES_41 } from '../src/check/4.1/known.ts';

test('bench measures throughput, controlled scheduling, lockdep cost and detection of every bug', async (t) => {
  // counts, never time windows: every measurement runs a fixed number of ops or runs, however slow the host
  const r = await bench({
    throughputOps: 2000, cpuCounts: [1, 2], seeds: 1, detectCapMs: 600_000, detectMaxRuns: 3, controlledRuns: 2, startupCpus: [2], memory: { cpus: 4, ops: 5 },
  });
  t.deepEqual(r.throughput.map((x) => x.cpus), [1, 2]);
  t.deepEqual(r.throughput.map((x) => [x.opsChecks, x.opsNoChecks]), [[2000, 2000], [2000, 2000]]);
  t.deepEqual([r.memory.cpus, r.memory.runs], [4, 14]);
  t.true(r.memory.peakRssMiB > 0);
  for (const row of r.throughput) {
    t.true(row.opsPerSecChecks > 0 && row.opsPerSecNoChecks > 0 && row.lockAcqPerSec > 0);
    t.true(Number.isFinite(row.checkCost));
    t.true(row.opsPerCpuSecChecks > 0 && row.opsPerCpuSecNoChecks > 0);
  }
  // both engines, the same runs, side by side
  t.deepEqual(r.controlled.map((c) => `${c.engine} ${c.strategy}/${c.ops}`), ['threads pct/30', 'inthread pct/30', 'threads random/30', 'inthread random/30', 'threads pct/1000', 'inthread pct/1000']);
  t.deepEqual(r.campaign.map((c) => [c.engine, c.jobs, c.runs]), [['threads', 1, 60], ['threads', 2, 60], ['inthread', 1, 60], ['inthread', 2, 60]]);
  t.true(r.campaign.every((c) => c.rssMiB > 0));
  t.deepEqual(r.coverage.map((c) => [c.feedback, c.curve.length]), [[false, 12], [true, 12]]);
  t.regex(renderBench(r), /Coverage saturation/);
  t.true(r.controlled.every((c) => c.runsPerSec > 0 && c.stepsPerSec > 0));
  t.true(r.lockdepNsPerPair.with > 0 && r.lockdepNsPerPair.without > 0 && r.lockdepNsPerPair.withRaceClocks > 0);
  t.deepEqual(r.startup.map((s) => s.cpus), [2]);
  t.true(r.startup[0]!.wallMs > 0 && r.startup[0]!.cpuMs > 0 && r.peakRssMiB > 0);
  // every bug and every known issue, under the five strategies
  t.is(r.detection.length, (BUGS.length + KNOWN_ISSUES.length) * 5);
  t.deepEqual([...new Set(r.detection.filter((d) => d.known).map((d) => d.bug))], KNOWN_ISSUES.map((k) => k.id));
  // each attempt stopped at its run cap or at a finding, not at a clock
  for (const d of r.detection) for (const x of d.samples) t.true(x.found || x.runs === 3, `${d.bug}/${d.strategy}: ${x.runs} runs`);
  t.true(r.machine.cores >= 1);
  const text = renderBench(r);
  t.regex(text, /^percpu-stress \S+ bench on \d+ cores/);
  t.regex(text, /Throughput, free-running/);
  t.regex(text, /Controlled mode/);
  t.regex(text, /inthread +pct +30 +[\d.]+ +[\d,]+ +[\d,]+ +[\d.]+x +[\d.]+\n/);
  t.regex(text, /in-thread\/threads at --jobs 1: [\d.]+x/);
  t.regex(text, /Start-up: .*\n +2 CPUs: [\d,]+ ms wall, [\d,]+ ms CPU/);
  t.regex(text, /memory: every scenario once at 4 CPUs \(5 ops each\): peak RSS \d+ MiB/);
  t.regex(text, /Detection: runs and seconds to the first detection/);
  for (const b of BUGS) t.true(text.includes(b.name));
  t.regex(text, /known issue +pct +pos +urw +random +os +\(--strict-known, the others suppressed\)\nwalk-escape /);
});

test('bench --kernel 4.1 measures a 4.1 machine: its scenarios, and the detection of each of its known issues (it has no injectable bugs)', async (t) => {
  const r = await bench({
    kernel: '4.1', throughputOps: 500, cpuCounts: [1], seeds: 1, detectCapMs: 600_000, detectMaxRuns: 40, controlledRuns: 2, startupCpus: [2], memory: { cpus: 2, ops: 5 },
  });
  t.is(r.kernel, '4.1');
  t.is(r.memory.runs, 20);
  t.deepEqual(r.detection.map((d) => d.bug), KNOWN_ISSUES_41.flatMap((k) => Array(5).fill(k.id)));
  t.true(r.detection.every((d) => d.known === true));
  for (const d of r.detection) for (const x of d.samples) t.true(x.found || x.runs === 40, `${d.bug}/${d.strategy}: ${x.runs} runs`);
  // the issue that shows in every run is found in the first, under every strategy
  t.true(r.detection.filter((d) => d.bug === 'empty-pop-unlocked').every((d) => d.medianRuns === 1));
});

test('bench throughput: a run a fatal known issue stopped is not measured; after five seeds, the kernel is measured with its later fixes booted, and the row says so', async (t) => {
  // a stand-in engine: every faithful run with checks on is stopped by a CPU's fatal report, a run with every fix booted is not
  const asked: { seed: number; fixes: number; checks: boolean }[] = [];
  const stopped = { kind: 'use-after-free', cpu: 1, step: 9, title: 'BUG: KASAN: use-after-free in pcpu_extend_area_map', text: '', held: [], stack: [], fatal: true };
  const quiet = { ...stopped, kind: 'invariant', cpu: -1, title: 'percpu: invariant violated at quiescence: empty-pop-pages' };
  const stand = (stops: (o: RunOptions) => boolean) => ({
    async run(o: RunOptions) {
      asked.push({ seed: o.seed, fixes: o.fixes ?? 0, checks: o.checks !== false });
      return { status: 'known', violations: stops(o) ? [stopped] : [quiet], ops: { ops: 4, alloc: 2, free: 2, irqsHandled: 0 }, locks: [{ acquisitions: 8 }], activeMs: 2 } as unknown as RunResult;
    },
  });
  const r = await throughput(stand((o) => (o.fixes ?? 0) === 0 && o.checks !== false), 2, 8, '4.1');
  t.deepEqual(asked.map((a) => `${a.seed}${a.checks ? '+' : '-'}${a.fixes ? 'F' : ''}`), ['1+', '2+', '3+', '4+', '5+', '1+F', '1-F']);
  t.true(r.fixed);
  // checks off is measured on the very run checks on was: a pair whose second run stops is a stopped pair
  asked.length = 0;
  t.false((await throughput(stand((o) => o.seed === 1 && o.checks === false), 2, 8, '4.1')).fixed);
  t.deepEqual(asked.map((a) => `${a.seed}${a.checks ? '+' : '-'}`), ['1+', '1-', '2+', '2-']);
  // a violation at quiescence (cpu -1) came after the run did its work: that run is measured as it is
  asked.length = 0;
  t.false((await throughput(stand(() => false), 2, 8, '4.1')).fixed);
  t.is(asked.length, 2, 'one pair, measured');
});
