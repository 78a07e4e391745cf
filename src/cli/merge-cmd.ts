// `percpu-stress merge FILES… [--json F] [--junit F] [--out DIR] [--quiet]`:
// combine the result files of a sharded fuzz campaign.

import { UsageError, parseArgs } from '../cli-args.ts';
import { ShardError, mergeShards, readShardFile } from '../explore/merge.ts';
import { writeRepro } from '../explore/repro.ts';
import { checkDir, checkWritable, distinctOutputs, writeOutput } from '../io/files.ts';
import { renderJunitCases } from '../render/junit.ts';
import { VERSION } from '../version.ts';
import { knownSummary } from './detect-opts.ts';
import { replayRun } from './fuzz-cmd.ts';
import { campaignCases, renderCampaign } from '../render/campaign.ts';
import { Runner } from '../run/main/runner.ts';
import type { RunResult } from '../report/result.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';

export async function mergeCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { json: 'string', junit: 'string', out: 'string', quiet: 'flag', html: 'string' }, 100_000);
  if (a.positional.length === 0) throw new UsageError('merge: which shard files? (the --json results of fuzz --shard i/n)');
  distinctOutputs({ '--json': a.options.json as string | undefined, '--junit': a.options.junit as string | undefined, '--html': a.options.html as string | undefined });
  const html = a.options.html === undefined ? undefined : checkWritable(a.options.html as string, '--html');
  const json = a.options.json === undefined ? undefined : checkWritable(a.options.json as string, '--json');
  const junit = a.options.junit === undefined ? undefined : checkWritable(a.options.junit as string, '--junit');
  const outDir = checkDir((a.options.out as string | undefined) ?? '.', '--out');
  let m;
  try {
    m = mergeShards(a.positional.map(readShardFile));
  } catch (e) {
    if (e instanceof ShardError) throw new UsageError(e.message);
    throw e;
  }
  const c = m.config;
  // the smallest repro of each signature, written here
  m.result.findings.forEach((f, i) => {
    const r = m.repros[i];
    f.reproPath = r ? writeRepro(outDir, r) : '';
  });
  let out = `merged ${a.positional.length} of ${m.missing.length + a.positional.length} shards (${c.strategy}, seed ${c.seed}, ${c.cpus} CPUs)\n`;
  out += renderCampaign(m.result, { quiet: a.options.quiet === true, portfolio: c.strategy === 'portfolio', entities: c.cpus + 1, depth: c.depth });
  out += knownSummary(m.result.known);
  if (m.missing.length) out += `missing shards: ${m.missing.join(', ')} of ${m.missing.length + a.positional.length}: the merge is partial\n`;
  else if (m.partial) out += 'some shards were interrupted: the merge is partial\n';
  process.stdout.write(out);
  let ok = true;
  if (json) {
    const doc = { tool: 'percpu-stress', version: VERSION, command: 'merge', config: c, shards: a.positional.length, missing: m.missing, partial: m.partial, ...m.result };
    ok = writeOutput(json, JSON.stringify(doc, null, 2) + '\n', '--json') && ok;
  }
  if (junit) ok = writeOutput(junit, renderJunitCases(campaignCases(c.scenarios, m.result, `${c.strategy}, cpus=${c.cpus}, merged`, { interrupted: false, ...(m.missing.length ? { reason: `not run: shards ${m.missing.join(', ')} of the campaign are missing from the merge` } : {}) }), 'percpu-stress', m.result.ms / 1000), '--junit') && ok;
  if (html) {
    // the first finding's minimal run, replayed once with its timeline and lockdep graph for the drawings
    let focus: RunResult | undefined;
    const first = m.result.findings[0];
    const repro = m.repros[0];
    if (first && repro) {
      const runner = new Runner();
      try {
        focus = await replayRun(runner, repro, repro.inject, 5000, true, true);
      } finally {
        await runner.close();
      }
    }
    const summary = out.split('\n').filter((l) => /^(merged|\d+ runs in|strategies:|residual risk:|known issues|missing shards)/.test(l));
    ok = writeOutput(html, renderHtml({
      command: 'merge', commandLine: commandLineOf(process.argv.slice(2)), verdict: m.result.findings.length ? 'violation' : m.partial ? 'incomplete' : 'clean', summary,
      findings: m.result.findings.map((f) => ({ title: f.violation.title, signature: f.signature, strategy: f.strategy, occurrences: f.occurrences, reproPath: f.reproPath, replay: `npx percpu-stress replay ${f.reproPath}` })),
      ...(focus && first ? { focus, replay: `npx percpu-stress replay ${first.reproPath}` } : {}),
    }), '--html') && ok;
  }
  if (!ok) return 2;
  return m.result.findings.length ? 1 : 0;
}
