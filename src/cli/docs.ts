// docs/cli.md, generated from the option specs (npm run docs writes it; a
// test checks it is in sync).

import { COMMANDS, EXIT_CODES } from './commands.ts';
import { renderMarkdown, usageLine, type Command, type Spec } from './options.ts';

export function renderCliDoc(): string {
  const cmds = COMMANDS as readonly Command<Spec>[];
  let out = '# Command reference\n\n<!-- generated from src/cli/commands.ts by `npm run docs`: edit the specs, not this file -->\n\n';
  out += 'Every command, every option with its default, and the exit codes. `percpu-stress <command> --help` prints the same.\n\n';
  out += cmds.map((c) => `- [${c.name}](#${c.name})`).join('\n') + '\n- [Exit codes](#exit-codes)\n\n';
  out += '| command | what it does |\n|---|---|\n';
  for (const c of cmds) out += `| \`${usageLine(c).replace(/\|/g, '\\|')}\` | ${c.summary} |\n`;
  for (const c of cmds) out += `\n${renderMarkdown(c)}`;
  out += '\n## Exit codes\n\n| code | meaning |\n|---|---|\n';
  for (const [code, what] of EXIT_CODES) out += `| ${code} | ${what} |\n`;
  return out;
}
