// Which src/ folders import which, one line per folder, and any folder cycles.
// Usage: node scripts/import-graph.mjs [--files] [--long[=N]]
//   --files   after each folder line, the file-level imports behind each edge
//   --long    instead, list the src/ files over N lines (default 300), longest first
// A file directly under src/ (cli.ts, contract.ts, ...) is its own node, named by its file name.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

const SRC = 'src';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts|js|mjs)$/.test(name) ? [p] : [];
  });
}

/** The node a src file belongs to: its top folder, or its own name when it sits in src/. */
function nodeOf(file) {
  return relative(SRC, file).split(sep)[0];
}

// static `import … from`, `export … from`, side-effect `import '…'`, dynamic `import('…')`
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1];
    if (!spec.startsWith('.')) continue;
    const target = normalize(join(dirname(file), spec));
    if (relative(SRC, target).startsWith('..')) continue;
    out.push(target);
  }
  return out;
}

function longFiles(min) {
  const rows = walk(SRC)
    .map((f) => [readFileSync(f, 'utf8').split('\n').length - 1, f])
    .filter(([n]) => n > min)
    .sort((a, b) => b[0] - a[0] || a[1].localeCompare(b[1]));
  for (const [n, f] of rows) console.log(`${String(n).padStart(5)} ${f}`);
  console.log(`${rows.length} files over ${min} lines`);
}

function graph() {
  /** node -> target node -> [file -> target file] */
  const edges = new Map();
  for (const file of walk(SRC)) {
    const from = nodeOf(file);
    if (!edges.has(from)) edges.set(from, new Map());
    for (const target of importsOf(file)) {
      const to = nodeOf(target);
      if (to === from) continue;
      const m = edges.get(from);
      if (!m.has(to)) m.set(to, []);
      m.get(to).push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  return edges;
}

/** Strongly connected components with more than one node (Tarjan). */
function cycles(edges) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One shortest cycle through `start` inside its component, for a readable path. */
function pathThrough(edges, start, comp) {
  const inComp = new Set(comp);
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const args = process.argv.slice(2);
const long = args.find((a) => a.startsWith('--long'));
if (long) {
  longFiles(Number(long.split('=')[1] ?? 300));
} else {
  const showFiles = args.includes('--files');
  const edges = graph();
  for (const from of [...edges.keys()].sort()) {
    const tos = [...edges.get(from).keys()].sort();
    console.log(`${from} -> ${tos.join(', ') || '(nothing)'}`);
    if (showFiles)
      for (const to of tos) for (const line of edges.get(from).get(to).sort()) console.log(`    ${line}`);
  }
  const found = cycles(edges);
  if (found.length === 0) console.log('no folder cycles');
  for (const comp of found) {
    console.log(`CYCLE among: ${comp.join(', ')}`);
    for (const start of comp) console.log(`  ${pathThrough(edges, start, comp).join(' -> ')}`);
  }
  process.exitCode = found.length ? 1 : 0;
}
