// One typed option spec per command: the same declarations parse argv (with
// node:util's parseArgs, Node's own parser), check and convert each value,
// and render --help and docs/cli.md, so the three cannot disagree. A value
// comes back with the type its declaration gives it; nothing is read back
// from an untyped record.

import { parseArgs } from 'node:util';
import { UsageError, quote } from '../report/errors.ts';

export interface Opt<T> {
  readonly kind: 'value' | 'flag';
  /** What a value looks like in help: N, D, FILE, DIR, one|two. */
  readonly placeholder: string;
  readonly help: string;
  /** The default as help shows it ('' when the option is off by default). */
  readonly default: string;
  readonly convert: (raw: string, flag: string) => T;
}

interface Common {
  /** The default as help shows it. */
  default?: string;
  placeholder?: string;
}

/** "30s", "2m", "500ms" or a plain number of seconds, in milliseconds. */
export function parseDuration(v: string, flag = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`${flag}: bad duration ${quote(v)} (use e.g. 500ms, 20s, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60000);
  if (!Number.isSafeInteger(ms) || ms > 2 ** 31 - 1) throw new UsageError(`${flag}: ${quote(v)} is longer than 24 days`);
  return ms;
}

export function int(help: string, o: Common & { min?: number; max?: number } = {}): Opt<number> {
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  return {
    kind: 'value', placeholder: o.placeholder ?? 'N', help, default: o.default ?? '',
    convert(raw, flag) {
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new UsageError(`${flag} must be a non-negative integer, got ${quote(raw)}`);
      const n = Number(raw);
      if (n < min || n > max) {
        throw new UsageError(max === Number.MAX_SAFE_INTEGER ? `${flag} must be at least ${min}, got ${n}` : `${flag} must be in ${min}..${max.toLocaleString('en-US')}, got ${n}`);
      }
      return n;
    },
  };
}

export function duration(help: string, o: Common & { min: number }): Opt<number> {
  return {
    kind: 'value', placeholder: o.placeholder ?? 'D', help, default: o.default ?? '',
    convert(raw, flag) {
      const ms = parseDuration(raw, flag);
      if (ms < o.min) throw new UsageError(`${flag} must be at least ${o.min}ms, got ${quote(raw)}`);
      return ms;
    },
  };
}

export function str(help: string, o: Common = {}): Opt<string> {
  return {
    kind: 'value', placeholder: o.placeholder ?? 'STRING', help, default: o.default ?? '',
    convert(raw, flag) {
      if (raw === '') throw new UsageError(`${flag} needs a value`);
      return raw;
    },
  };
}

export function choice<C extends string>(help: string, choices: readonly C[], o: Common = {}): Opt<C> {
  return {
    kind: 'value', placeholder: o.placeholder ?? choices.join('|'), help, default: o.default ?? '',
    convert(raw, flag) {
      if (!(choices as readonly string[]).includes(raw)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got ${quote(raw)}`);
      return raw as C;
    },
  };
}

export function flag(help: string): Opt<true> {
  return { kind: 'flag', placeholder: '', help, default: '', convert: () => true };
}

export type Spec = Record<string, Opt<unknown>>;
export type Values<S extends Spec> = { -readonly [K in keyof S]?: S[K] extends Opt<infer T> ? T : never };

export interface Command<S extends Spec> {
  name: string;
  /** Positional arguments as usage shows them, e.g. "<scenario|all|FILE>". */
  args: string;
  /** How many positional arguments it takes at most. */
  maxPositional: number;
  /** One line for the command list. */
  summary: string;
  /** A paragraph for its own help. */
  description: string;
  options: S;
  /** Lines after the options (what durations look like, what a default depends on). */
  notes?: readonly string[];
  /** Command lines to copy, each with what it does and the exit code it ends with (docs/cli.md runs them). */
  examples?: readonly Example[];
}

export interface Example {
  cmd: string;
  what: string;
  /** 0 unless said (1: it finds, or reproduces, a bug). */
  exit?: number;
}

export interface Parsed<S extends Spec> {
  o: Values<S>;
  positional: string[];
}

/** Parse argv against a command's spec: unknown, repeated, valueless or badly typed options are one-line usage errors. */
export function parse<S extends Spec>(cmd: Command<S>, argv: string[]): Parsed<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, opt] of Object.entries(cmd.options)) options[name] = { type: opt.kind === 'flag' ? 'boolean' : 'string' };
  let r;
  try {
    r = parseArgs({ args: argv, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw new UsageError(parseError(e as NodeJS.ErrnoException, cmd, argv));
  }
  const seen = new Set<string>();
  for (const t of r.tokens) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
    // parseArgs takes "--cpus --seed" as --cpus with the value "--seed": refuse a value that looks like an option
    if (t.value !== undefined && t.inlineValue === false && t.value.startsWith('--')) throw new UsageError(`--${t.name} needs a value`);
  }
  if (r.positionals.length > cmd.maxPositional) {
    throw new UsageError(`unexpected argument ${quote(r.positionals[cmd.maxPositional])}${cmd.maxPositional === 0 ? ` (${cmd.name} takes none)` : ''}`);
  }
  const o: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(r.values)) {
    const opt = cmd.options[name]!;
    o[name] = opt.convert(typeof raw === 'string' ? raw : '', `--${name}`);
  }
  return { o: o as Values<S>, positional: r.positionals };
}

/** Edit distance (insertions, deletions, substitutions, two letters swapped), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The option a mistyped one most likely meant: within a third of its length in edits, or one it begins. */
export function closest(given: string, names: readonly string[]): string | null {
  const g = given.replace(/^-+/, '').split('=')[0]!;
  if (!g) return null;
  let best: string | null = null;
  let bestD = Infinity;
  for (const n of names) {
    const d = n.startsWith(g) && g.length >= 3 ? 0.5 : distance(g, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(g.length / 3)) ? best : null;
}

function parseError(e: NodeJS.ErrnoException, cmd: Command<Spec>, argv: readonly string[]): string {
  const m = /'(-[^' ]*)/.exec(e.message);
  const name = m?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = closest(name, Object.keys(cmd.options));
      return `unknown option ${quote(name)} for ${cmd.name}${near ? `: did you mean --${near}?` : ''} (try: percpu-stress ${cmd.name} --help)`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      if (/does not take an argument/.test(e.message)) return `${name} takes no value`;
      // "--seed -1": parseArgs takes -1 for an option; it is a value, and no option takes a negative one
      const next = argv[argv.indexOf(name) + 1];
      return next !== undefined && /^-\d/.test(next) ? `${name} takes no negative value, got ${quote(next)}` : `${name} needs a value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument`;
    default:
      return e.message.split('\n')[0]!;
  }
}

/** "  --cpus N        what it is (default 4)" lines, aligned. */
function optionLines(s: Spec): string[] {
  const heads = Object.entries(s).map(([name, opt]) => `--${name}${opt.placeholder ? ` ${opt.placeholder}` : ''}`);
  const width = Math.min(28, Math.max(...heads.map((h) => h.length)) + 2);
  return Object.values(s).map((opt, i) => {
    const head = heads[i]!;
    const text = `${opt.help}${opt.default ? ` (default: ${opt.default})` : ''}`;
    return head.length + 2 > width ? `  ${head}\n  ${''.padEnd(width)}${text}` : `  ${head.padEnd(width)}${text}`;
  });
}

export function usageLine(cmd: Command<Spec>): string {
  return `percpu-stress ${cmd.name}${cmd.args ? ` ${cmd.args}` : ''}${Object.keys(cmd.options).length ? ' [options]' : ''}`;
}

/** A command's --help. */
export function renderHelp(cmd: Command<Spec>, footer: string): string {
  let out = `usage: ${usageLine(cmd)}\n\n${cmd.description}\n`;
  if (Object.keys(cmd.options).length) out += `\noptions:\n${optionLines(cmd.options).join('\n')}\n`;
  if (cmd.notes?.length) out += `\n${cmd.notes.join('\n')}\n`;
  if (cmd.examples?.length) out += `\nexamples:\n${cmd.examples.map((x) => `  # ${x.what}${x.exit ? ` (exit ${x.exit})` : ''}\n  ${x.cmd}`).join('\n')}\n`;
  return `${out}\n${footer}\n`;
}

/** A command's section of docs/cli.md. */
export function renderMarkdown(cmd: Command<Spec>): string {
  let out = `## ${cmd.name}\n\n\`${usageLine(cmd)}\`\n\n${cmd.description}\n`;
  if (Object.keys(cmd.options).length) {
    out += '\n| option | what | default |\n|---|---|---|\n';
    for (const [name, opt] of Object.entries(cmd.options)) {
      const head = `--${name}${opt.placeholder ? ` ${opt.placeholder}` : ''}`.replace(/\|/g, '\\|');
      out += `| \`${head}\` | ${opt.help.replace(/\|/g, '\\|')} | ${opt.default || '-'} |\n`;
    }
  }
  if (cmd.notes?.length) out += `\n${cmd.notes.join('\n')}\n`;
  if (cmd.examples?.length) {
    // consecutive examples with one exit code are one block (test/docs.test.ts runs each line, in order, in one folder)
    out += '\nExamples:\n';
    let i = 0;
    while (i < cmd.examples.length) {
      const exit = cmd.examples[i]!.exit ?? 0;
      let j = i;
      while (j < cmd.examples.length && (cmd.examples[j]!.exit ?? 0) === exit) j++;
      out += `\n${exit ? `<!-- doc: exit ${exit} -->\n` : ''}\`\`\`sh\n${cmd.examples.slice(i, j).map((x) => `# ${x.what}\n${x.cmd}`).join('\n')}\n\`\`\`\n`;
      i = j;
    }
  }
  return out;
}
