// docs/measurements.md as the bench commands write it (harness/report/measurements-file.ts):
// one section per command between markers, replaced when the command runs again; and the
// plan of `vfio-conform bench --first-run` (bench/first-run.ts), which needs no guest to check.
import { describe, expect, test } from 'vitest'
import { GENERATED_END, renderMeasurement, withMeasurement } from '../../harness/report/measurements-file.js'
import { firstRunPlan, kernelBuildSeconds } from '../../bench/first-run.js'

describe('docs/measurements.md sections', () => {
  const m = (id: string, lines: string[]) => ({ id, title: `Title ${id}`, command: `vfio-conform bench --${id}`, lines, date: new Date('2026-12-07T04:00:00Z'), where: '2 cores' })
  const base = `# Measurements\n\nintro\n\n${GENERATED_END}\n\n## History\n\nold\n`

  test('a section names its command, date and machine, between its markers', () => {
    const s = renderMeasurement(m('a', ['x 1 s']))
    expect(s).toContain('### Title a')
    expect(s).toContain('`vfio-conform bench --a`, 2026-12-07 (2 cores):')
    expect(s).toMatch(/^<!-- measurement a begin[^\n]*-->\n[\s\S]*\n<!-- measurement a end -->$/)
  })
  test('a new section goes before the end of the generated part; running again replaces only it', () => {
    const one = withMeasurement(base, m('a', ['first']))
    expect(one.indexOf('first')).toBeLessThan(one.indexOf(GENERATED_END))
    const two = withMeasurement(one, m('b', ['other']))
    const three = withMeasurement(two, m('a', ['second']))
    expect(three).not.toContain('first')
    expect(three).toContain('second')
    expect(three).toContain('other')
    expect(three.indexOf('second')).toBeLessThan(three.indexOf('other'))
    expect(three.endsWith('## History\n\nold\n')).toBe(true)
  })
  test('a file without the end marker gets the section and the marker appended', () => {
    const t = withMeasurement('# M\n', m('a', ['v']))
    expect(t).toContain('<!-- measurement a end -->')
    expect(t.trimEnd().endsWith(GENERATED_END)).toBe(true)
  })
})

describe('bench --first-run', () => {
  test('empty caches of its own, none of the caller\'s VFIO_CONFORM_* settings, the README command', () => {
    const p = firstRunPlan('/b', { PATH: '/usr/bin', VFIO_CONFORM_KERNELS: 'debian:bookworm', VFIO_CONFORM_CACHE: '/warm', CCACHE_DIR: '/warm/cc', npm_config_cache: '/warm/npm' })
    expect(p.env).toEqual({ PATH: '/usr/bin', npm_config_cache: '/b/npm-cache', XDG_CACHE_HOME: '/b/xdg-cache', VFIO_CONFORM_CACHE: '/b/vfio-conform-cache' })
    expect(p.steps.map((s) => [s.file, ...s.args].join(' '))).toEqual([
      'npm ci',
      'npx vfio-conform run --results /b/results',
      'npx vfio-conform run --results /b/results-warm',
    ])
    expect(p.clone).toBe('/b/vfio-conform')
  })
  test('the kernel build time from the run\'s progress lines', () => {
    expect(kernelBuildSeconds('[vfio-conform 700.1s] kernel debian-source:6.12.118-1: built 6.12.118 in 655 s (3120 compile/link steps)\n')).toEqual([655])
  })
})
