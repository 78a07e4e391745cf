// The code blocks of the README and docs/, as the doc test runs them.
//
// A `console` block is a session: each line starting with "$ " is a command,
// run with bash in a fresh temporary directory (the same one for the whole
// block, so a repro written by one command is there for the next), with
// `npx percpu-stress` meaning this checkout's CLI; the lines after a command
// are what it prints (stdout and stderr as a terminal shows them). Output is
// compared after normalising what must vary: times and rates, repro hashes,
// the temporary directory. In an expected line "..." matches any text; a
// line that is only "..." matches any number of lines.
//
// An HTML comment just before a block changes how it is run:
//   <!-- doc: replace "A" "B" -->   run the commands with A replaced by B
//                                   (a long budget made short; any number;
//                                   {root} in B is this checkout)
//   <!-- doc: not run: REASON -->   the block is not run; the reason is required
//   <!-- doc: file PATH -->         the block is the file PATH of this repository, verbatim
// A `sh` block is one command per line, run the same way, its output not
// compared (only that it exits as the block's `<!-- doc: exit N -->` says, 0
// by default).

export interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  replace: [string, string][];
  notRun: string | null;
  sameAs: string | null;
  exit: number | null;
}

export function blocksOf(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  let pending: Omit<Block, 'file' | 'line' | 'lang' | 'body'> = { replace: [], notRun: null, sameAs: null, exit: null };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const d = /^<!-- doc: (.*) -->$/.exec(l.trim());
    if (d) {
      const what = d[1]!;
      let m: RegExpExecArray | null;
      if ((m = /^replace "(.*)" "(.*)"$/.exec(what))) pending.replace.push([m[1]!, m[2]!]);
      else if ((m = /^not run: (.+)$/.exec(what))) pending.notRun = m[1]!;
      else if ((m = /^file (\S+)$/.exec(what))) pending.sameAs = m[1]!;
      else if ((m = /^exit (\d+)$/.exec(what))) pending.exit = Number(m[1]);
      else throw new Error(`${file}:${i + 1}: unknown doc directive ${JSON.stringify(what)}`);
      continue;
    }
    const fence = /^```(\S*)\s*$/.exec(l);
    if (!fence) {
      if (l.trim() !== '') pending = { replace: [], notRun: null, sameAs: null, exit: null };
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code block never closed`);
    out.push({ file, line: start + 1, lang: fence[1] ?? '', body: body.join('\n'), ...pending });
    pending = { replace: [], notRun: null, sameAs: null, exit: null };
  }
  return out;
}

export interface Step {
  command: string;
  expected: string[];
}

/** A console block's commands and the output shown after each. */
export function stepsOf(b: Block): Step[] {
  const steps: Step[] = [];
  for (const l of b.body.split('\n')) {
    if (l.startsWith('$ ')) steps.push({ command: l.slice(2), expected: [] });
    else if (steps.length) steps[steps.length - 1]!.expected.push(l);
    else throw new Error(`${b.file}:${b.line}: output before the first command: ${JSON.stringify(l)}`);
  }
  for (const s of steps) while (s.expected.length && s.expected[s.expected.length - 1] === '') s.expected.pop();
  return steps;
}

/** What may differ between two runs of the same command. */
export function normalize(text: string, dir: string): string {
  return text
    .split(dir).join('.')
    .replace(/repro-[0-9a-f]{12}/g, 'repro-<hash>')
    // a time shown as "... s" in a doc is any time
    .replace(/(\.\.\.|\b\d[\d,]*(\.\d+)?) ?(ms|s)\b/g, '<time>')
    .replace(/\b\d[\d,]*(\.\d+)? ?(runs|ops|points|switches)\/s\b/g, '<rate>')
    .replace(/[ \t]+$/gm, '');
}

/** Does `actual` match `expected`, whose lines may hold "..." (any text) or be "..." (any lines)? */
export function matches(expected: readonly string[], actual: readonly string[]): boolean {
  const lineRe = (e: string): RegExp => new RegExp(`^${e.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const go = (i: number, j: number): boolean => {
    if (i === expected.length) return j === actual.length;
    if (expected[i] === '...') {
      for (let k = j; k <= actual.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    return j < actual.length && lineRe(expected[i]!).test(actual[j]!) && go(i + 1, j + 1);
  };
  return go(0, 0);
}
