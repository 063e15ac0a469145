// The CI templates read by the CI systems' own parsers, so that a template change that GitHub
// or GitLab would reject fails npm test. GitHub: @actions/workflow-parser, GitHub's parser of
// workflow files (schema, expressions and their contexts and functions, the needs graph).
// GitLab: gitlab-ci-local, which expands includes, extends and the parallel matrix and
// validates the result against GitLab's JSON schema. Each parser is also shown a broken
// copy, to prove it would say so. The pipeline itself running a real shard under
// gitlab-ci-local: test/pipeline/gitlab-pipeline.test.ts.
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from '@actions/workflow-parser'
import { execa } from 'execa'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { CI_SHARDS } from '../../ci/matrix.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const GITLAB_CI_LOCAL = path.join(ROOT, 'node_modules/.bin/gitlab-ci-local')

/** GitHub's parser's errors for a workflow text (parse, then conversion: needs, cycles). */
async function githubErrors(content: string): Promise<string[]> {
  const parsed = parseWorkflow({ name: 'github-actions.yml', content }, new NoOperationTraceWriter())
  const errors = parsed.context.errors.getErrors().map((e) => e.message)
  if (errors.length || !parsed.value) return errors
  const template = await convertWorkflowTemplate(parsed.context, parsed.value)
  return (template.errors ?? []).map((e) => {
    const m = e as unknown as { Message?: string; message?: string }
    return m.Message ?? m.message ?? String(e)
  })
}

describe('the GitHub workflow, by GitHub\'s parser (@actions/workflow-parser)', () => {
  test('ci/github-actions.yml parses and converts without an error: schema, expressions, needs', async () => {
    const content = await readFile(path.join(ROOT, 'ci/github-actions.yml'), 'utf8')
    expect(await githubErrors(content)).toEqual([])
    const parsed = parseWorkflow({ name: 'github-actions.yml', content }, new NoOperationTraceWriter())
    const t = await convertWorkflowTemplate(parsed.context, parsed.value!)
    expect(t.jobs.map((j) => String((j as { id: { value: string } }).id.value))).toEqual(expect.arrayContaining(['unit', 'conformance', 'summary']))
  })

  test('the parser catches what it is here for: a schema error, an expression, a context, a function, a needs', async () => {
    const content = await readFile(path.join(ROOT, 'ci/github-actions.yml'), 'utf8')
    const broken = {
      schema: content.replace('runs-on:', 'runs-onn:'),
      expression: content.replace('${{ matrix.index }}', '${{ matrix.index }'),
      context: content.replace('${{ matrix.index }}', '${{ matriks.index }}'),
      function: content.replace('${{ matrix.index }}', '${{ nosuchfn(matrix.index) }}'),
      needs: content.replace(/needs: \[?unit\]?/, 'needs: [no-such-job]'),
    }
    for (const [what, text] of Object.entries(broken)) {
      expect(text, `${what}: the template no longer has the text the broken copy replaces`).not.toBe(content)
      expect(await githubErrors(text), what).not.toEqual([])
    }
  })
})

describe('the GitLab template, by gitlab-ci-local (includes, extends, parallel matrix, GitLab\'s schema)', () => {
  let dir: string | undefined
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** gitlab-ci-local --list-json in a project whose .gitlab-ci.yml includes `template`. */
  async function listJobs(template: string) {
    dir ??= await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-gitlab-list-'))
    const project = await mkdtemp(path.join(dir, 'p-'))
    await execa('git', ['init', '-q'], { cwd: project })
    await mkdir(path.join(project, 'ci'))
    await writeFile(path.join(project, 'ci/gitlab-ci.yml'), template)
    await copyFile(path.join(ROOT, 'package-lock.json'), path.join(project, 'package-lock.json'))
    // As the template's header says to use it: included from the project's .gitlab-ci.yml.
    await writeFile(path.join(project, '.gitlab-ci.yml'), 'include:\n  - local: ci/gitlab-ci.yml\n')
    // Local includes are read from git's index.
    await execa('git', ['add', '-A'], { cwd: project })
    await execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'template'], { cwd: project })
    return execa(GITLAB_CI_LOCAL, ['--list-json', '--json-schema-validation'], { cwd: project, reject: false, all: true, env: { ...process.env, NO_COLOR: '1' } })
  }

  test('ci/gitlab-ci.yml: every job, each matrix entry a job of its own with its shard\'s variables, needs as written', async () => {
    const r = await listJobs(await readFile(path.join(ROOT, 'ci/gitlab-ci.yml'), 'utf8'))
    expect(r.exitCode, r.all).toBe(0)
    const jobs = JSON.parse(r.stdout) as Array<{ name: string; stage: string; needs: Array<{ job: string }> | null; when: string }>
    const byName = new Map(jobs.map((j) => [j.name, j]))
    expect(byName.get('vfio-conform:unit')?.stage).toBe('check')
    const shards = jobs.filter((j) => j.name.startsWith('vfio-conform:conformance: ['))
    // gitlab-ci-local names a matrix job by its variables' values, as GitLab does.
    expect(shards.map((j) => j.name)).toEqual(CI_SHARDS.map((s, i) => expect.stringContaining(`[${i + 1},${s.name},`)))
    for (const j of shards) expect(j.needs?.map((n) => n.job)).toEqual(['vfio-conform:unit'])
    expect(byName.get('vfio-conform:report')?.needs?.map((n) => n.job)).toEqual(['vfio-conform:conformance'])
    expect(byName.get('vfio-conform:report')?.when).toBe('always')
  })

  test('gitlab-ci-local refuses what GitLab would: a schema error, a needs on no job', async () => {
    const content = await readFile(path.join(ROOT, 'ci/gitlab-ci.yml'), 'utf8')
    // Each broken copy, and what the refusal must name (not some other problem).
    const broken: Record<string, [string, RegExp]> = {
      schema: [content.replace('interruptible: true', 'interruptible: sometimes'), /interruptible/],
      needs: [content.replace("needs: ['vfio-conform:unit']", "needs: ['vfio-conform:no-such-job']"), /no-such-job/],
    }
    for (const [what, [text, named]] of Object.entries(broken)) {
      expect(text, `${what}: the template no longer has the text the broken copy replaces`).not.toBe(content)
      const r = await listJobs(text)
      expect(r.exitCode, `${what}: accepted\n${r.all}`).not.toBe(0)
      expect(r.all, what).toMatch(named)
    }
  })
})
