// The documentation as a newcomer meets it: a short README, links that lead somewhere, an
// index that lists every page, an example that is the compiling file, and no reference to
// files outside the repository; docs/measurements.md with every bench command's section.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { GENERATED_END } from '../../harness/report/measurements-file.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8')
const docs = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
const pages = ['README.md', 'ci/README.md', 'ci/mutations/README.md', ...docs]

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
const slug = (h: string) => h.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')
const anchors = (f: string) => new Set([...read(f).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)))

describe('docs', () => {
  test('README.md is at most 6 kB', () => {
    expect(statSync(path.join(ROOT, 'README.md')).size).toBeLessThanOrEqual(6 * 1024)
  })

  for (const page of pages) {
    test(`${page}: every relative link leads to a file (and heading) that exists`, () => {
      const text = read(page).replace(/```[\s\S]*?```/g, '')
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!
        if (/^[a-z]+:/.test(link)) continue
        const [file, anchor] = link.split('#') as [string, string | undefined]
        const target = file ? path.normalize(path.join(path.dirname(page), file)) : page
        expect(existsSync(path.join(ROOT, target)), `${page}: ${link}`).toBe(true)
        if (anchor && target.endsWith('.md')) expect([...anchors(target)], `${page}: ${link}`).toContain(anchor)
      }
    })
  }

  test('docs/README.md lists every page of docs/', () => {
    const index = read('docs/README.md')
    for (const d of docs.filter((f) => f !== 'docs/README.md')) expect(index, d).toContain(`](${path.basename(d)})`)
  })

  test('every example a page shows is its checked file, as it is', () => {
    for (const page of docs) {
      for (const m of read(page).matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```\n<!-- example end -->/g)) {
        expect(m[2], `${page}: ${m[1]}`).toBe(read(m[1]!))
      }
    }
    expect(read('docs/writing-tests.md')).toContain('<!-- example: docs/examples/group-opens-once.ts -->')
  })

  test('no tracked file refers to the machine facts outside the repository', () => {
    const name = ['FACTS', 'md'].join('.')
    const files = execFileSync('git', ['-C', ROOT, 'ls-files'], { encoding: 'utf8' }).split('\n').filter(Boolean)
    const hits = files.filter((f) => existsSync(path.join(ROOT, f)) && statSync(path.join(ROOT, f)).size < 2_000_000 && read(f).includes(name))
    expect(hits).toEqual([])
  })

  test('docs/measurements.md has the end marker and every bench section once', () => {
    const text = read('docs/measurements.md')
    expect(text).toContain(GENERATED_END)
    for (const id of ['bench-first-run', 'bench-boot', 'bench-speed', 'bench-stability', 'bench-kernel-build', 'bench-model-odds']) {
      expect(text.split(`<!-- measurement ${id} begin`).length - 1, id).toBe(1)
    }
  })
})
