// `vfio-conform claims --kernel Q`: keep the columns of the kernels a query names. A query is
// what a user would type for the kernel they ran: the spec they passed (`debian:bookworm`,
// `debian:6.12`, `debian-source:6.12`), the resolved id or label the run printed
// (`debian:6.12.118-1`, `debian-6.12.118-1`) or the guest's `uname -r`.
import { UsageError } from '../util/errors.js'
import { uniq, type ClaimsEvaluation, type RunTarget } from './evaluate.js'

type TargetKernel = RunTarget['kernel']

/**
 * Does the query name this kernel? Exact id, label or release; a version prefix of the id or
 * label that ends at a version boundary (`debian:6.1` names 6.1.192-2 but not 6.12.118-1;
 * `debian-source:6.12` names the plain build and its `,compat` variant); or, for a Debian
 * package, `debian:<suite>` for the suite it was fetched from (bookworm also covers
 * bookworm-security).
 */
export function kernelMatches(query: string, k: TargetKernel): boolean {
  const q = query.trim()
  if (!q) return false
  if (q === k.id || q === k.label || q === k.release) return true
  const prefixOf = (s: string | undefined) => !!s && s.startsWith(q) && /^[.,-]/.test(s.slice(q.length))
  if (prefixOf(k.id) || prefixOf(k.label)) return true
  const m = /^debian:([a-z-]+)$/.exec(q)
  if (m && k.origin?.kind === 'debian') {
    const suite = m[1]!
    return (k.origin.suites ?? []).some((s) => s === suite || s.startsWith(`${suite}-`))
  }
  return false
}

/** The evaluation restricted to the columns of the kernels the queries name. */
export function selectKernels(ev: ClaimsEvaluation, targets: RunTarget[], queries: string[]): ClaimsEvaluation {
  if (!queries.length) return ev
  // Columns are "<label>/<iommu>"; the targets give each label its id, release and origin.
  const byLabel = new Map(targets.map((t) => [t.kernel.label, t.kernel]))
  const kernels = ev.columns.map((c) => byLabel.get(c.kernel) ?? { label: c.kernel, release: c.release })
  for (const q of queries) {
    if (!kernels.some((k) => kernelMatches(q, k))) {
      const known = uniq(kernels.map((k) => k.id ?? k.label))
      throw new UsageError(`--kernel ${q}: no such kernel in these results (they have: ${known.join(', ') || 'none'})`)
    }
  }
  const keep = kernels.map((k) => queries.some((q) => kernelMatches(q, k)))
  return {
    columns: ev.columns.filter((_, i) => keep[i]),
    results: ev.results.map((r) => ({ ...r, cells: r.cells.filter((_, i) => keep[i]) })),
  }
}
