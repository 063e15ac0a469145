// The project's module graph: no import circle anywhere (a circle means two files are one
// concept split badly, and their load order decides what is undefined at import time), and
// the harness never imports from suites/ (the suites hand their registries to the harness:
// harness/registries.ts). Every static import, `export ... from` and `import('...')` of the
// TypeScript sources counts, type-only ones too.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DIRS = ['harness', 'suites', 'guests', 'bench', 'ci', 'test']

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/** Project files a source imports (relative specifiers only), as paths from the project root. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = []
  for (const m of text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!
    if (!spec.startsWith('.')) continue
    out.push(path.normalize(path.join(path.dirname(file), spec)).replace(/\.js$/, '.ts'))
  }
  return out
}

/** Every circle of a graph, each once (as the path from its smallest file round to it). */
export function circles(graph: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>()
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string) => {
    state.set(n, 'open')
    stack.push(n)
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const loop = stack.slice(stack.indexOf(m))
        const i = loop.indexOf([...loop].sort()[0]!)
        const canon = [...loop.slice(i), ...loop.slice(0, i)]
        found.set(canon.join(' -> '), canon)
      } else if (!state.has(m)) visit(m)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n)
  return [...found.values()]
}

function projectGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>()
  for (const f of DIRS.flatMap(sources).concat('vitest.config.ts')) g.set(f, importsOf(f, readFileSync(path.join(ROOT, f), 'utf8')))
  return g
}

describe('import graph', () => {
  test('the checker sees imports of every form', () => {
    const text = [
      "import { a } from './a.js'",
      "import type { B } from '../b/b.js'",
      "export { c } from './c.js'",
      "export * from './d.js'",
      "import './e.js'",
      "const f = await import('./f.js')",
      "import {\n  g,\n  h,\n} from './gh.js'",
      "import { execa } from 'execa'",
      "// import { no } from './comment.js'",
    ].join('\n')
    expect(importsOf('harness/x/y.ts', text)).toEqual([
      'harness/x/a.ts', 'harness/b/b.ts', 'harness/x/c.ts', 'harness/x/d.ts', 'harness/x/e.ts', 'harness/x/f.ts', 'harness/x/gh.ts',
    ])
  })

  test('the checker finds a circle, and only once', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ])
    expect(circles(g)).toEqual([['a', 'b', 'c'], ['e']])
    expect(circles(new Map([['a', ['b']], ['b', []]]))).toEqual([])
  })

  test('no import circle in the project', () => {
    expect(circles(projectGraph()).map((c) => [...c, c[0]].join(' -> '))).toEqual([])
  })

  test('harness/ does not import from suites/', () => {
    const bad = [...projectGraph()]
      .filter(([f]) => f.startsWith('harness/'))
      .flatMap(([f, deps]) => deps.filter((d) => d.startsWith('suites/')).map((d) => `${f} -> ${d}`))
    expect(bad).toEqual([])
  })
})
