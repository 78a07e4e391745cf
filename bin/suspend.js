// The suspending form of the sources, for the in-thread engine: the same
// TypeScript, with every function that can reach a scheduling point turned
// into a generator and every call to one into a delegation (`yield*`), so
// that a run's CPUs and the kworker can be coroutines of one thread.
//
// Nothing is listed by hand. Two JSDoc tags in the sources say all there is:
//
// - `@suspend` on a function: in the suspending form its body is one
//   `yield` (src/sched/park.ts: where a thread waits for the run token, a
//   coroutine gives the thread back to the engine);
// - `@coroutine` on a function: a call passed straight to it is started,
//   not delegated to (the engine takes the generator of an entity's part).
//
// Everything else follows from the program, with the type checker:
//
// 1. Function entities: every function, method, arrow and function
//    expression, and every place a function can be called through --
//    an interface's method, a property or variable or parameter of a
//    function type, an object literal's property. They are joined into
//    families that must all take the same form:
//    - a method and what it overrides or implements (extends, implements);
//    - a slot and every function that flows into it: an initializer, an
//      assignment, an argument, an object literal property in a place
//      whose type has that property (this is how the tables of function
//      pointers, PcpuOps of src/percpu/*/core.ts and variants.ts, are
//      handled: pcpuAlloc flows into PcpuOps.alloc, so every function
//      booted through `ops.alloc` takes the form of `ops.alloc` calls);
//    - an object flowing where an interface is expected: same-named
//      function members of both (a class that implements CpuHost or
//      SchedHooks without saying so).
// 2. A family suspends when it holds a `@suspend` function, or a function
//    whose body calls a family that suspends; iterated to a fixpoint.
// 3. The build refuses, with the place and the reason, what it cannot
//    convert: a suspending function that escapes where calls cannot be
//    followed (a callback handed to a library function such as
//    Array.prototype.forEach, a value returned or stored in an array,
//    `.call`/`.bind`), a constructor, getter or setter that would suspend,
//    a suspending call at a module's top level, in a class field, in a
//    parameter default, or inside an optional chain that goes on after it,
//    and an async function that would suspend.
//
// The output is a map of file -> TypeScript text (printed from the
// transformed syntax trees), which bin/build.js bundles like the plain
// sources; every import stays as it was, so the generated form has the
// module graph of the sources.

import ts from 'typescript';
import { relative } from 'node:path';

const NO_SUSPEND = '__noSuspend';

/** The tag of a function, if its JSDoc has it. */
function hasTag(node, tag) {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === tag);
}

function isBody(n) {
  return ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isFunctionExpression(n) || ts.isArrowFunction(n) ||
    ts.isConstructorDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n);
}

function strip(e) {
  for (;;) {
    if (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isTypeAssertionExpression(e)) e = e.expression;
    else return e;
  }
}

/**
 * Analyse the program reached from `entries` and produce its suspending form.
 * `forget`: test-only, calls ("file:line", relative to root) left unconverted,
 * to prove that a difference between the engines is caught.
 */
export function suspendingForm({ root, entries, compilerOptions = {}, forget = [] }) {
  const options = {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true, noEmit: true, strict: true, skipLibCheck: true, types: ['node'], resolveJsonModule: true,
    ...compilerOptions,
  };
  const program = ts.createProgram({ rootNames: entries, options });
  const checker = program.getTypeChecker();
  const files = program.getSourceFiles().filter((f) => !f.isDeclarationFile && !f.fileName.includes('/node_modules/') && f.fileName.startsWith(root));
  const project = new Set(files);
  const inProject = (n) => project.has(n.getSourceFile());
  const where = (n) => {
    const sf = n.getSourceFile();
    const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
    return `${relative(root, sf.fileName)}:${line + 1}`;
  };
  const nameOf = (n) => {
    const named = n.name && ts.isIdentifier(n.name) ? n.name.text : ts.isConstructorDeclaration(n) ? 'constructor' : null;
    const cls = n.parent && (ts.isClassDeclaration(n.parent) || ts.isInterfaceDeclaration(n.parent)) && n.parent.name ? `${n.parent.name.text}.` : '';
    if (named) return `${cls}${named}`;
    if (n.parent && ts.isVariableDeclaration(n.parent) && ts.isIdentifier(n.parent.name)) return n.parent.name.text;
    if (n.parent && ts.isPropertyAssignment(n.parent) && ts.isIdentifier(n.parent.name)) return n.parent.name.text;
    return '(anonymous function)';
  };

  // ---- families: union-find over declaration nodes -----------------------------
  const parent = new Map();
  const find = (n) => {
    let r = n;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r);
    let x = n;
    while (x !== r) {
      const next = parent.get(x) ?? r;
      parent.set(x, r);
      x = next;
    }
    return r;
  };
  const union = (a, b) => {
    if (!parent.has(a)) parent.set(a, a);
    if (!parent.has(b)) parent.set(b, b);
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  const escaped = new Map(); // function node -> why
  const errors = [];

  const resolve = (sym) => (sym && sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym);
  const declsOf = (sym) => (resolve(sym)?.declarations ?? []).filter(inProject);
  const symbolOfExpr = (e) => {
    e = strip(e);
    // `{ lockIndex }`: the value is the variable or function of that name, not the property
    if (ts.isIdentifier(e) && e.parent && ts.isShorthandPropertyAssignment(e.parent) && e.parent.name === e) return checker.getShorthandAssignmentValueSymbol(e.parent);
    if (ts.isPropertyAccessExpression(e)) return checker.getSymbolAtLocation(e.name);
    if (ts.isIdentifier(e) || ts.isElementAccessExpression(e)) return checker.getSymbolAtLocation(e);
    return undefined;
  };
  const callable = (t) => t && (t.getCallSignatures().length > 0 || (t.isUnion() && t.types.some((x) => x.getCallSignatures().length > 0)));

  /** The functions an expression can evaluate to (arrows, function expressions, named functions, function-typed slots). */
  const functionSources = (e) => {
    e = strip(e);
    if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) return [e];
    if (ts.isConditionalExpression(e)) return [...functionSources(e.whenTrue), ...functionSources(e.whenFalse)];
    if (ts.isBinaryExpression(e) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.AmpersandAmpersandToken].includes(e.operatorToken.kind)) {
      return [...functionSources(e.left), ...functionSources(e.right)];
    }
    if (ts.isIdentifier(e) || ts.isPropertyAccessExpression(e)) {
      const decls = declsOf(symbolOfExpr(e));
      return decls.filter((d) => isBody(d) || ts.isMethodSignature(d) || callable(checker.getTypeAtLocation(e)));
    }
    return [];
  };

  /** Same-named function members of an object type flowing into another: one family each. */
  const seenFlows = new Set();
  const flowObject = (src, dst, depth = 0) => {
    if (!src || !dst || depth > 3) return;
    for (const s of src.isUnion() ? src.types : [src]) {
      for (const d of dst.isUnion() ? dst.types : [dst]) {
        if (!(s.flags & ts.TypeFlags.Object) || !(d.flags & ts.TypeFlags.Object) || s === d) continue;
        const key = `${s.id},${d.id}`;
        if (seenFlows.has(key)) continue;
        seenFlows.add(key);
        for (const dp of d.getProperties()) {
          const sp = s.getProperty(dp.name);
          if (!sp) continue;
          const dd = (dp.declarations ?? []).filter(inProject);
          const sd = (sp.declarations ?? []).filter(inProject);
          if (!dd.length || !sd.length) continue;
          const dt = checker.getTypeOfSymbol(dp);
          const st = checker.getTypeOfSymbol(sp);
          if (callable(dt) || callable(st)) {
            for (const a of sd) for (const b of dd) union(a, b);
          } else if (depth < 3) {
            flowObject(st, dt, depth + 1);
          }
        }
      }
    }
  };

  /** A value flowing into the declarations `targets` (project slots) with the target type `type`. */
  const flow = (e, targets, type, why) => {
    const local = targets.filter(inProject);
    for (const f of functionSources(e)) {
      if (local.length) for (const t of local) union(f, t);
      else escaped.set(f, escaped.get(f) ?? `${why} at ${where(e)}`);
    }
    flowObject(checker.getTypeAtLocation(e), type);
  };

  const calls = new Map(); // body -> [{ call, families }]
  const topCalls = []; // suspending-candidate calls outside any convertible body
  const skipCalls = new Set(); // calls a @coroutine takes as they are
  const forgotten = new Set(forget);

  const enclosingBody = (n) => {
    for (let p = n.parent; p; p = p.parent) {
      if (isBody(p)) return p;
      if (ts.isClassStaticBlockDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isSourceFile(p)) return null;
    }
    return null;
  };
  const inParameter = (n, body) => {
    for (let p = n.parent; p && p !== body; p = p.parent) if (ts.isParameter(p)) return true;
    return false;
  };

  const calleeDecls = (call) => {
    const e = strip(call.expression);
    if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) return [e];
    const sym = symbolOfExpr(e);
    if (sym) return declsOf(sym);
    const sig = checker.getResolvedSignature(call);
    return sig?.declaration && inProject(sig.declaration) ? [sig.declaration] : [];
  };

  const useOf = (n) => {
    // climb through what passes a value on unchanged
    let e = n;
    for (;;) {
      const p = e.parent;
      if (!p) return { kind: 'ignore' };
      if (ts.isParenthesizedExpression(p) || ts.isNonNullExpression(p) || ts.isAsExpression(p) || ts.isSatisfiesExpression(p)) e = p;
      else if (ts.isConditionalExpression(p) && p.condition !== e) e = p;
      else if (ts.isBinaryExpression(p) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(p.operatorToken.kind)) e = p;
      else break;
    }
    const p = e.parent;
    if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === e) return { kind: 'ignore' };
    if (ts.isCallExpression(p) || ts.isNewExpression(p)) return { kind: 'arg', call: p, expr: e };
    if (ts.isVariableDeclaration(p) && p.initializer === e) return { kind: 'var', decl: p, expr: e };
    if (ts.isPropertyDeclaration(p) && p.initializer === e) return { kind: 'var', decl: p, expr: e };
    if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return p.right === e ? { kind: 'assign', bin: p, expr: e } : { kind: 'ignore' };
    if (ts.isPropertyAssignment(p) && p.initializer === e) return { kind: 'prop', prop: p, expr: e };
    if (ts.isShorthandPropertyAssignment(p)) return { kind: 'prop', prop: p, expr: e };
    if (ts.isBinaryExpression(p) || ts.isPrefixUnaryExpression(p) || ts.isTypeOfExpression(p) || ts.isIfStatement(p) || ts.isWhileStatement(p) ||
      ts.isConditionalExpression(p) || ts.isExpressionStatement(p) || ts.isDeleteExpression(p)) return { kind: 'ignore' };
    if (ts.isPropertyAccessExpression(p) && p.expression === e) {
      return ['call', 'apply', 'bind'].includes(p.name.text) ? { kind: 'escape', why: `.${p.name.text}` } : { kind: 'ignore' };
    }
    if (ts.isPropertyAccessExpression(p) && p.name === e) return useOf(p);
    if (ts.isExportSpecifier(p) || ts.isImportSpecifier(p) || ts.isExportAssignment(p) || ts.isTypeQueryNode(p) || ts.isQualifiedName(p)) return { kind: 'ignore' };
    if (ts.isReturnStatement(p) || ts.isArrowFunction(p)) return { kind: 'escape', why: 'returned' };
    if (ts.isArrayLiteralExpression(p)) return { kind: 'escape', why: 'put in an array' };
    if (ts.isSpreadElement(p) || ts.isSpreadAssignment(p)) return { kind: 'ignore' };
    return { kind: 'escape', why: `used as ${ts.SyntaxKind[p.kind]}` };
  };

  const handleUse = (n) => {
    const u = useOf(n);
    switch (u.kind) {
      case 'ignore':
        return;
      case 'escape':
        for (const f of functionSources(n)) escaped.set(f, escaped.get(f) ?? `${u.why} at ${where(n)}`);
        return;
      case 'arg': {
        const sig = checker.getResolvedSignature(u.call);
        const i = u.call.arguments.indexOf(u.expr);
        const decl = sig?.declaration;
        let targets = [];
        if (decl && i >= 0 && decl.parameters) {
          const param = decl.parameters[Math.min(i, decl.parameters.length - 1)];
          if (param) targets = [param];
        }
        const callee = strip(u.call.expression);
        const calleeName = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : 'a function';
        flow(u.expr, targets, checker.getContextualType(u.expr), `passed to ${calleeName}()`);
        return;
      }
      case 'var':
        flow(u.expr, [u.decl], checker.getTypeAtLocation(u.decl.name), 'stored');
        return;
      case 'assign': {
        const sym = symbolOfExpr(u.bin.left);
        flow(u.expr, declsOf(sym), checker.getTypeAtLocation(u.bin.left), 'assigned');
        return;
      }
      case 'prop': {
        const obj = u.prop.parent;
        const name = u.prop.name.getText();
        const ct = checker.getContextualType(obj);
        const targets = [u.prop];
        for (const t of ct ? (ct.isUnion() ? ct.types : [ct]) : []) {
          const p = t.getProperty(name);
          if (p) targets.push(...(p.declarations ?? []).filter(inProject));
        }
        const value = ts.isShorthandPropertyAssignment(u.prop) ? u.prop.name : u.expr;
        if (ts.isShorthandPropertyAssignment(u.prop)) {
          const vs = checker.getShorthandAssignmentValueSymbol(u.prop);
          for (const d of declsOf(vs)) if (isBody(d)) for (const t of targets) union(d, t);
          flowObject(checker.getTypeAtLocation(value), checker.getContextualType(value) ?? undefined);
          return;
        }
        flow(value, targets, checker.getContextualType(value), 'stored');
        return;
      }
    }
  };

  // ---- walk every file once ---------------------------------------------------
  const roots = [];
  const coroutines = [];
  for (const sf of files) {
    const visit = (n) => {
      if (isBody(n)) {
        parent.set(n, parent.get(n) ?? n);
        if (hasTag(n, 'suspend')) roots.push(n);
        if (hasTag(n, 'coroutine')) coroutines.push(n);
        const p = n.parent;
        if ((ts.isVariableDeclaration(p) || ts.isPropertyDeclaration(p)) && p.initializer === n) union(n, p);
        if (ts.isArrowFunction(n) || ts.isFunctionExpression(n)) handleUse(n);
        if (ts.isMethodDeclaration(n) && ts.isObjectLiteralExpression(p) && n.name) {
          // an object literal's method fills the property of the type the literal is put where
          const ct = checker.getContextualType(p);
          for (const t of ct ? (ct.isUnion() ? ct.types : [ct]) : []) {
            const prop = t.getProperty(n.name.getText());
            for (const d of (prop?.declarations ?? []).filter(inProject)) union(n, d);
          }
        }
      }
      if (ts.isClassDeclaration(n) || ts.isInterfaceDeclaration(n) || ts.isClassExpression(n)) {
        // a method and what it overrides or implements: one family
        const bases = [];
        for (const h of n.heritageClauses ?? []) for (const x of h.types) bases.push(checker.getTypeAtLocation(x));
        for (const m of n.members) {
          if (!m.name || !(ts.isIdentifier(m.name) || ts.isPrivateIdentifier(m.name))) continue;
          for (const b of bases) {
            const bp = b.getProperty(m.name.text);
            for (const d of (bp?.declarations ?? []).filter(inProject)) union(m, d);
          }
        }
      }
      objectFlow(n);
      if (ts.isCallExpression(n)) {
        const body = enclosingBody(n);
        const fams = calleeDecls(n);
        const entry = { call: n, decls: fams, body };
        if (fams.some((d) => coroutines.includes(d) || hasTag(d, 'coroutine'))) {
          const a = n.arguments[0] && strip(n.arguments[0]);
          if (a && ts.isCallExpression(a)) skipCalls.add(a);
        }
        if (body) {
          if (!calls.has(body)) calls.set(body, []);
          calls.get(body).push(entry);
        } else {
          topCalls.push(entry);
        }
      }
      if (ts.isNewExpression(n)) {
        const body = enclosingBody(n);
        const sig = checker.getResolvedSignature(n);
        const decl = sig?.declaration;
        if (decl && inProject(decl) && ts.isConstructorDeclaration(decl)) {
          const entry = { call: n, decls: [decl], body, isNew: true };
          if (body) {
            if (!calls.has(body)) calls.set(body, []);
            calls.get(body).push(entry);
          } else topCalls.push(entry);
        }
      }
      if ((ts.isIdentifier(n) && !(ts.isPropertyAccessExpression(n.parent) && n.parent.name === n)) || ts.isPropertyAccessExpression(n)) {
        // a function used as a value (not called): where does it go?
        const parentCall = n.parent && (ts.isCallExpression(n.parent) || ts.isNewExpression(n.parent)) && n.parent.expression === n;
        if (!parentCall && !isDeclarationName(n) && refersToFunction(n)) handleUse(n);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }

  /** Wherever a value of an object type goes somewhere typed, its function members join the target's. */
  function objectFlow(n) {
    const at = (e) => checker.getTypeAtLocation(e);
    const ctx = (e) => checker.getContextualType(e) ?? undefined;
    if ((ts.isVariableDeclaration(n) || ts.isPropertyDeclaration(n)) && n.initializer && n.type) flowObject(at(n.initializer), at(n.name));
    else if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken) flowObject(at(n.right), at(n.left));
    else if ((ts.isCallExpression(n) || ts.isNewExpression(n)) && n.arguments) for (const a of n.arguments) flowObject(at(a), ctx(a));
    else if (ts.isReturnStatement(n) && n.expression) flowObject(at(n.expression), ctx(n.expression));
    else if (ts.isPropertyAssignment(n)) flowObject(at(n.initializer), ctx(n.initializer));
    else if (ts.isSpreadAssignment(n)) flowObject(at(n.expression), ctx(n.parent));
    else if (ts.isArrayLiteralExpression(n)) for (const e of n.elements) if (!ts.isSpreadElement(e)) flowObject(at(e), ctx(e));
  }

  function isDeclarationName(n) {
    const p = n.parent;
    return p && (p.name === n) && (ts.isVariableDeclaration(p) || ts.isFunctionDeclaration(p) || ts.isMethodDeclaration(p) || ts.isParameter(p) ||
      ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodSignature(p) || ts.isClassDeclaration(p) || ts.isInterfaceDeclaration(p) ||
      ts.isPropertyAssignment(p) || ts.isEnumMember(p) || ts.isTypeAliasDeclaration(p) || ts.isEnumDeclaration(p) || ts.isImportSpecifier(p) ||
      ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p) || ts.isBindingElement(p));
  }

  /** Is this identifier or access a function value worth following (cheap test before the flow analysis)? */
  function refersToFunction(n) {
    const sym = symbolOfExpr(n);
    const decls = declsOf(sym);
    if (!decls.length) return false;
    return decls.some((d) => isBody(d) || ts.isMethodSignature(d) ||
      ((ts.isPropertySignature(d) || ts.isPropertyDeclaration(d) || ts.isVariableDeclaration(d) || ts.isParameter(d) || ts.isPropertyAssignment(d)) && callable(checker.getTypeAtLocation(n))));
  }

  // ---- the fixpoint --------------------------------------------------------------
  const suspending = new Set(roots.map(find));
  const live = (e) => !skipCalls.has(e.call) && !forgotten.has(where(e.call));
  for (let changed = true; changed; ) {
    changed = false;
    for (const [body, list] of calls) {
      const fam = find(body);
      if (suspending.has(fam)) continue;
      if (list.some((e) => live(e) && e.decls.some((d) => suspending.has(find(d))))) {
        suspending.add(fam);
        changed = true;
      }
    }
  }
  const suspends = (d) => parent.has(d) && suspending.has(find(d));
  const callSuspends = (e) => live(e) && e.decls.some((d) => parent.has(d) && suspends(d));

  // ---- what cannot be converted -----------------------------------------------
  const bodies = [...parent.keys()].filter(isBody);
  const converted = bodies.filter(suspends);
  for (const b of converted) {
    if (ts.isConstructorDeclaration(b)) errors.push(`${where(b)}: the constructor of ${b.parent.name?.text ?? 'a class'} reaches a scheduling point (a constructor cannot suspend)`);
    else if (ts.isGetAccessorDeclaration(b) || ts.isSetAccessorDeclaration(b)) errors.push(`${where(b)}: the accessor ${nameOf(b)} reaches a scheduling point (an accessor cannot suspend)`);
    else if (b.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) errors.push(`${where(b)}: the async function ${nameOf(b)} reaches a scheduling point`);
    if (escaped.has(b)) errors.push(`${where(b)}: ${nameOf(b)} reaches a scheduling point and is ${escaped.get(b)}, where the build cannot follow its calls (a callback): call it directly, or store it in a typed slot`);
  }
  for (const [f, why] of escaped) {
    if (!isBody(f) && parent.has(f) && suspends(f)) errors.push(`${where(f)}: ${nameOf(f)} can hold a function that reaches a scheduling point and is ${why}, where the build cannot follow its calls`);
  }
  for (const e of topCalls) if (callSuspends(e)) errors.push(`${where(e.call)}: a call that reaches a scheduling point outside any function (module top level or a class field)`);
  for (const [body, list] of calls) {
    for (const e of list) {
      if (!callSuspends(e)) continue;
      if (e.isNew) errors.push(`${where(e.call)}: new ${e.call.expression.getText()}(): its constructor reaches a scheduling point`);
      else if (inParameter(e.call, body)) errors.push(`${where(e.call)}: a call that reaches a scheduling point in a parameter's default value`);
      else if (e.call.questionDotToken === undefined && ts.isOptionalChain(e.call)) errors.push(`${where(e.call)}: a call that reaches a scheduling point inside an optional chain`);
      else if (ts.isOptionalChain(e.call) && e.call.parent && (ts.isPropertyAccessExpression(e.call.parent) || ts.isCallExpression(e.call.parent) || ts.isElementAccessExpression(e.call.parent)) && e.call.parent.expression === e.call) {
        errors.push(`${where(e.call)}: an optional chain goes on after a call that reaches a scheduling point`);
      }
    }
  }
  if (!roots.length) errors.push('no function is tagged @suspend: nothing could suspend');
  if (errors.length) return { errors: [...new Set(errors)].sort(), files: new Map(), converted: [] };

  // ---- emit ------------------------------------------------------------------
  const out = new Map();
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const callEntries = new Map();
  for (const list of [...calls.values(), topCalls]) for (const e of list) callEntries.set(e.call, e);
  const rootSet = new Set(roots);
  for (const sf of files) {
    let touched = false;
    let usesNone = false;
    const transformer = (ctx) => {
      const f = ctx.factory;
      const visit = (node) => {
        const orig = ts.getOriginalNode(node);
        if (rootSet.has(orig) && (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node))) {
          touched = true;
          const body = f.createBlock([f.createExpressionStatement(f.createYieldExpression(undefined, undefined))], true);
          if (ts.isFunctionDeclaration(node)) return f.updateFunctionDeclaration(node, node.modifiers, f.createToken(ts.SyntaxKind.AsteriskToken), node.name, node.typeParameters, node.parameters, undefined, body);
          return f.updateMethodDeclaration(node, node.modifiers, f.createToken(ts.SyntaxKind.AsteriskToken), node.name, node.questionToken, node.typeParameters, node.parameters, undefined, body);
        }
        const visited = ts.visitEachChild(node, visit, ctx);
        if (ts.isCallExpression(orig) && callEntries.has(orig) && callSuspends(callEntries.get(orig))) {
          touched = true;
          let target = visited;
          if (ts.isOptionalChain(orig)) {
            usesNone = true;
            target = f.createBinaryExpression(f.createParenthesizedExpression(visited), ts.SyntaxKind.QuestionQuestionToken, f.createIdentifier(NO_SUSPEND));
          }
          return f.createParenthesizedExpression(f.createYieldExpression(f.createToken(ts.SyntaxKind.AsteriskToken), target));
        }
        if (isBody(orig) && suspends(orig)) {
          touched = true;
          const star = f.createToken(ts.SyntaxKind.AsteriskToken);
          if (ts.isFunctionDeclaration(visited)) return f.updateFunctionDeclaration(visited, visited.modifiers, star, visited.name, visited.typeParameters, visited.parameters, undefined, visited.body);
          if (ts.isMethodDeclaration(visited)) return f.updateMethodDeclaration(visited, visited.modifiers, star, visited.name, visited.questionToken, visited.typeParameters, visited.parameters, undefined, visited.body);
          if (ts.isFunctionExpression(visited)) return f.updateFunctionExpression(visited, visited.modifiers, star, visited.name, visited.typeParameters, visited.parameters, undefined, visited.body);
          if (ts.isArrowFunction(visited)) {
            const body = ts.isBlock(visited.body) ? visited.body : f.createBlock([f.createReturnStatement(visited.body)], true);
            const fn = f.createFunctionExpression(undefined, star, undefined, visited.typeParameters, visited.parameters, undefined, body);
            return usesThis(orig.body) ? f.createCallExpression(f.createPropertyAccessExpression(f.createParenthesizedExpression(fn), 'bind'), undefined, [f.createThis()]) : f.createParenthesizedExpression(fn);
          }
        }
        return visited;
      };
      return (node) => ts.visitNode(node, visit);
    };
    const res = ts.transform(sf, [transformer]);
    let text;
    if (!touched) {
      text = sf.getFullText();
    } else {
      let tsf = res.transformed[0];
      if (usesNone) {
        const decl = ts.factory.createVariableStatement(undefined, ts.factory.createVariableDeclarationList([
          ts.factory.createVariableDeclaration(NO_SUSPEND, undefined, undefined, ts.factory.createArrayLiteralExpression([])),
        ], ts.NodeFlags.Const));
        tsf = ts.factory.updateSourceFile(tsf, [...tsf.statements, decl]);
      }
      text = `// Generated by bin/suspend.js from ${relative(root, sf.fileName)}: the suspending form (do not edit).\n${printer.printFile(tsf)}`;
    }
    res.dispose();
    out.set(sf.fileName, text);
  }
  return {
    errors: [],
    files: out,
    converted: converted.map((b) => `${where(b)} ${nameOf(b)}`).sort(),
    roots: roots.map((b) => `${where(b)} ${nameOf(b)}`),
  };
}

/** Does a function body use `this` of its own (not inside a nested non-arrow function)? */
function usesThis(node) {
  let found = false;
  const visit = (n) => {
    if (found) return;
    if (n.kind === ts.SyntaxKind.ThisKeyword) {
      found = true;
      return;
    }
    if (ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isClassDeclaration(n) || ts.isClassExpression(n) || ts.isMethodDeclaration(n)) return;
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}
