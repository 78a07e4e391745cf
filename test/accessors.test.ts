// Every access to shared memory in the allocator, the workqueue and the
// memory managers goes through a checked accessor, or through one of the
// declared exemptions below, each with its reason. The test parses those
// folders with the TypeScript compiler and lists every element access of a
// shared view (`w[...]`, `b[...]`), every Atomics call on one, and every bulk
// operation on one (fill, set, copyWithin, subarray, slice), with the
// function it is in; anything outside the list fails.

import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const ROOT = new URL('..', import.meta.url).pathname;

/** Where raw access is allowed, and why. A key is "file" (every function in it) or "file#function". */
const EXEMPT: Record<string, string> = {
  'src/percpu/chunk.ts': 'the accessor module of the allocator\'s shared state: each method names its field to the checker before it touches it, or is declared unchecked with its reason (boot constants, fields fixed at creation, the harness\'s own counters)',
  'src/percpu/2.6.35/first-chunk.ts': 'boot: pcpu_setup_first_chunk runs on the main thread before any CPU exists',
  'src/percpu/4.1/first-chunk.ts': 'boot: pcpu_setup_first_chunk and percpu_init_late run on the main thread before any CPU exists',
  'src/percpu/first-chunk.ts': 'boot: the first chunk\'s placement, the same in both kernels, on the main thread before any CPU exists',
  'src/percpu/access.ts': 'the areas\' contents are their users\' data, not allocator state; the shadow stamps (src/check/shadow.ts) check them',
  'src/percpu/access.ts#clearBytes': 'memset of an area\'s contents (its user\'s data)',
  'src/percpu/stats.ts': 'percpu_stats read on the main thread after the run, at quiescence',
  'src/mm/heap.ts': 'the heap\'s own bookkeeping under its raw lock (slab\'s locks, below lockdep as in the kernel)',
  'src/mm/pages.ts': 'the page allocator\'s own bookkeeping under its raw lock (zone->lock); page->index has checked accessors in src/percpu/chunk.ts',
  'src/mm/vm.ts': 'the vmalloc space\'s own bookkeeping under its raw lock (vmap_area_lock\'s data)',
  'src/mm/fail.ts': 'failure injection, the harness\'s, not the kernel\'s',
  'src/mm/kasan.ts': 'KASAN reads the heap\'s object headers (the heap\'s own bookkeeping) to bound an access and to report it, never the allocator\'s state',
  'src/workqueue/workqueue.ts': 'the work item\'s bits are atomic by design (test_and_set_bit, clear_bit), and WORK_REQS is the calling CPU\'s own context word',
};

/** Raw mm functions over percpu-owned state: only the accessor module may call them. */
const RAW_PERCPU_STATE = new Set(['pageIndex', 'setPageIndex']);

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(ROOT.length));
}

const SHARED = /^(?:w|b|.*\.w|.*\.b)$/;
const BULK = new Set(['fill', 'set', 'copyWithin', 'subarray', 'slice']);

interface Access {
  file: string;
  fn: string;
  line: number;
  text: string;
}

function enclosing(node: ts.Node): string {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isGetAccessor(n)) && n.name) {
      const cls = ts.isClassDeclaration(n.parent) && n.parent.name ? `${n.parent.name.text}.` : '';
      return cls + n.name.getText();
    }
    if (ts.isConstructorDeclaration(n)) return `${(n.parent as ts.ClassDeclaration).name?.text ?? '?'}.constructor`;
    if (ts.isVariableDeclaration(n) && n.initializer && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))) return n.name.getText();
  }
  return '(top level)';
}

function rawAccesses(file: string): Access[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: Access[] = [];
  const add = (node: ts.Node): void => {
    out.push({ file, fn: enclosing(node), line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: node.getText().slice(0, 60) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isElementAccessExpression(node) && SHARED.test(node.expression.getText())) add(node);
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const target = node.expression.expression.getText();
      const method = node.expression.name.text;
      if (target === 'Atomics' && node.arguments[0] && SHARED.test(node.arguments[0].getText())) add(node);
      if (BULK.has(method) && SHARED.test(target)) add(node);
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && RAW_PERCPU_STATE.has(node.expression.text) && !file.startsWith('src/mm/')) {
      out.push({ file, fn: enclosing(node), line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: `raw page->index: ${node.getText().slice(0, 50)}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const ALL = ['src/percpu', 'src/workqueue', 'src/mm'].flatMap(files).sort();

test('every access of shared allocator state goes through a checked accessor or a declared exemption', (t) => {
  const bad = ALL.flatMap(rawAccesses).filter((a) => !(a.file in EXEMPT) && !(`${a.file}#${a.fn}` in EXEMPT));
  t.deepEqual(bad.map((a) => `${a.file}:${a.line} ${a.fn}: ${a.text}`), []);
  t.true(ALL.length > 30);
});

test('every declared exemption names a file that exists and gives a reason', (t) => {
  for (const [key, why] of Object.entries(EXEMPT)) {
    t.true(ALL.includes(key.split('#')[0]!), key);
    t.true(why.length > 20, key);
  }
});

test('the scanner sees element accesses, Atomics and bulk operations on shared views (it is not vacuous)', (t) => {
  const found = rawAccesses('src/percpu/chunk.ts');
  t.true(found.some((a) => a.fn === 'PcpuState.freeSize' && a.text.includes('this.w[c + C.FREE_SIZE]')));
  t.true(found.some((a) => a.fn === 'PcpuState.claimTemp' && a.text.startsWith('Atomics.compareExchange')));
  t.true(found.some((a) => a.fn === 'PcpuState.clearTempPages' && a.text.includes('.fill(')));
  t.true(found.some((a) => a.fn === 'copyWords' && a.text.startsWith('w[')));
  // and the allocator's own code has none of them
  t.deepEqual(rawAccesses('src/percpu/2.6.35/core.ts'), []);
  t.deepEqual(rawAccesses('src/percpu/2.6.35/area-map.ts'), []);
});

test('the checked accessors name their field to the checker before touching it', (t) => {
  // every PcpuState method that reads or writes a chunk field, a map entry, the bitmap, the temp
  // buffer, the slot lists, page->index, warn_limit or the stats calls the checker first
  const text = readFileSync(join(ROOT, 'src/percpu/chunk.ts'), 'utf8');
  const sf = ts.createSourceFile('chunk.ts', text, ts.ScriptTarget.ES2022, true);
  const unchecked: string[] = [];
  // declared unchecked in chunk.ts, each with its reason there (boot constants, fields fixed at creation
  // and written while the chunk is private, fresh memory nobody sees, the single-owner check's own word,
  // the harness's counters, the raw copy for reports, the heap's own count of frees)
  const DECLARED_UNCHECKED = new Set(['attach', 'unitMap', 'unitOffset', 'groupOffset', 'groupSize', 'baseAddrGlobal', 'staticSize', 'baseAddr', 'data', 'immutable',
    'seq', 'setCreated', 'setSeq', 'claimChunk', 'initMap', 'claimTemp', 'releaseTemp', 'harnessCount', 'initListHead', 'mapArray', 'frees',
    // 4.1: pcpu_async_enabled and pcpu_low/high_unit_cpu are __read_mostly boot constants; the harness's run counters
    'asyncEnabled', 'lowUnitCpu', 'highUnitCpu', 'harnessCount41']);
  // checked through listDel, which they call first
  const CHECKED_BY_LISTDEL = new Set(['listDelInit', 'listMove', 'listMoveTail', 'insertBetween']);
  sf.forEachChild((n) => {
    if (!ts.isClassDeclaration(n)) return;
    for (const m of n.members) {
      if (!ts.isMethodDeclaration(m) || !m.body) continue;
      const name = m.name.getText();
      const body = m.body.getText();
      const touches = /this\.w\[|this\.w\.(fill|copyWithin|set)|nextBit\(this\.w|setBit\(this\.w/.test(body);
      if (touches && !/this\.ck(\.|!|;)/.test(body.split(/this\.w|nextBit|setBit/)[0]!) && !DECLARED_UNCHECKED.has(name) && !CHECKED_BY_LISTDEL.has(name)) unchecked.push(name);
    }
  });
  t.deepEqual(unchecked, []);
});
