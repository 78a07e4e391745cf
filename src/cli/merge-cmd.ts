// `percpu-stress merge FILES...`: combine the result files of a sharded
// fuzz campaign. A merge that misses shards or holds an interrupted one is
// partial, and says so in every output and in its exit code (6) unless
// --allow-partial.

import { suiteName } from './suite.ts';
import { DEFAULT_KERNEL, type KernelVersion } from '../shm/config.ts';
import { ShardError, mergeShards, readShardFile } from '../explore/merge.ts';
import { ReproError, reproFileName, writeRepro } from '../explore/repro.ts';
import { Outputs } from '../io/outputs.ts';
import { renderJunitCases } from '../render/junit.ts';
import { renderKtapCases } from '../render/ktap.ts';
import { UsageError, oneLine } from '../report/errors.ts';
import { VERSION } from '../version.ts';
import { knownSummary } from './detect-opts.ts';
import { replayRun } from './fuzz-cmd.ts';
import { campaignCases, htmlFindings, plural, renderCampaign } from '../render/campaign.ts';
import { Runner } from '../run/main/runner.ts';
import type { RunResult } from '../report/result.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';
import { MERGE } from './commands.ts';
import { parse } from './options.ts';

export async function mergeCommand(argv: string[]): Promise<number> {
  const { o, positional } = parse(MERGE, argv);
  if (positional.length === 0) throw new UsageError('merge: which shard files? (the --json results of fuzz --shard i/n)');
  const outputs = new Outputs();
  for (const f of positional) outputs.input('shard file', f);
  const json = outputs.add('--json', o.json);
  const junit = outputs.add('--junit', o.junit);
  const ktap = outputs.add('--ktap', o.ktap);
  const html = outputs.add('--html', o.html);
  const outDir = outputs.dir('--out', o.out ?? '.');
  outputs.repros(outDir);
  let m;
  try {
    m = mergeShards(positional.map(readShardFile));
  } catch (e) {
    if (e instanceof ShardError || e instanceof ReproError) throw new UsageError(e.message);
    throw e;
  }
  // the scenario files the findings' repros load are inputs too
  for (const r of m.repros) if (r?.scenarioFile !== undefined) outputs.input('scenario file', r.scenarioFile);
  const c = m.config;
  // the repro of each finding (of its first failing run), written here; one that cannot be written
  // loses nothing (it is in the --json result) and makes the exit code 2
  const unwritten: string[] = [];
  m.result.findings.forEach((f, i) => {
    const r = m.repros[i];
    f.reproPath = '';
    if (!r) return;
    try {
      f.reproPath = writeRepro(outDir.path, r);
    } catch (e) {
      unwritten.push(`cannot write ${reproFileName(r)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  const total = m.missing.length + positional.length;
  let out = `merged ${positional.length} of ${plural(total, 'shard')} (${c.strategy}, seed ${c.seed}, ${plural(c.cpus, 'CPU')})\n`;
  out += renderCampaign(m.result, { quiet: o.quiet === true, portfolio: c.strategy === 'portfolio', entities: c.cpus + 1, depth: c.depth });
  out += knownSummary(m.result.known, (c.kernel ?? DEFAULT_KERNEL) as KernelVersion);
  const why = m.missing.length ? `${m.missing.length === 1 ? 'shard' : 'shards'} ${m.missing.join(', ')} of ${total} ${m.missing.length === 1 ? 'is' : 'are'} missing` : m.partial ? 'some shards were interrupted' : null;
  if (why) out += `${why}: the merge is partial${o['allow-partial'] ? '' : m.result.findings.length ? ' (the findings make the exit code 1; without them it would be 6)' : ' (exit 6; --allow-partial to accept it)'}\n`;
  process.stdout.write(out);
  // the first finding's minimal run, replayed once with its timeline and lockdep graph for the drawings
  let focus: RunResult | undefined;
  const first = m.result.findings[0];
  const repro = m.repros[0];
  if (html && first && repro) {
    const runner = new Runner();
    try {
      focus = await replayRun(runner, repro, repro.inject, 5000, true, true);
    } finally {
      await runner.close();
    }
  }
  const kernel = (c.kernel ?? DEFAULT_KERNEL) as KernelVersion;
  // the test names of the campaign run in one piece (what fuzz --junit names them)
  const what = `${kernel !== DEFAULT_KERNEL ? `kernel=${kernel}, ` : ''}${c.strategy}, cpus=${c.cpus}`;
  // a partial merge is a case of its own: failed (as the exit code 6), or skipped with --allow-partial
  const rest = `partial merge: ${why}`;
  const cases = (): ReturnType<typeof campaignCases> => [
    ...campaignCases(c.scenarios, m.result, what, { interrupted: false, ...(why ? { reason: `not run in the shards merged: ${why}` } : {}) }, kernel),
    ...(why ? [{
      classname: 'percpu-stress.merge', name: `the rest of the campaign (${what})`, time: 0, out: '',
      ...(o['allow-partial'] ? { skipped: rest } : { failure: { message: rest, type: 'partial-merge', text: `${rest}: the runs of the missing or interrupted shards were not checked; merge them all, or give --allow-partial` } }),
    }] : []),
  ];
  const ok = outputs.writeAll([
    [json, () => JSON.stringify({ tool: 'percpu-stress', version: VERSION, command: 'merge', config: c, shards: positional.length, missing: m.missing, partial: m.partial, ...m.result }, null, 2) + '\n'],
    [junit, () => renderJunitCases(cases(), suiteName(kernel), m.result.ms / 1000)],
    [ktap, () => renderKtapCases(`${suiteName(kernel)} fuzz`, cases(), { partial: why, note: `merged ${positional.length} of ${plural(total, 'shard')}` })],
    [html, () => {
      const summary = out.split('\n').filter((l) => /^(merged|[\d,]+ runs? in|strategies:|residual risk:|known issues|shards? .* missing|some shards)/.test(l));
      return renderHtml({
        command: 'merge', commandLine: commandLineOf(process.argv.slice(2)), verdict: m.result.findings.length ? 'violation' : m.partial ? 'incomplete' : 'clean', summary,
        findings: htmlFindings(m.result),
        ...(focus && first ? { focus, replay: htmlFindings(m.result)[0]!.replay, focusViolation: focus.violations.find((v) => v.kind === first.violation.kind) } : {}),
      });
    }],
  ]);
  if (unwritten.length) {
    process.stderr.write(oneLine(`percpu-stress: --out: ${unwritten.length === 1 ? unwritten[0]! : `${unwritten.length} repro files could not be written (${unwritten[0]!})`} in ${outDir.given}${json ? ` (the --json result holds ${unwritten.length === 1 ? 'it' : 'them'})` : ''}`));
    return 2;
  }
  if (!ok) return 2;
  if (m.result.findings.length) return 1;
  return why && !o['allow-partial'] ? 6 : 0;
}
