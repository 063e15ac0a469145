// The unreached error returns of a kernel, each with a reason (ci/coverage/unreached.yaml):
// `vfio-conform coverage --unreached FILE` writes the list from a coverage run, keeping
// the reasons already written for sites that are still unreached (by site id), suggesting
// one for new sites from what the check looks like, and dropping sites a test now reaches.
// Pure: the report and the old file's text in, the new text out.
import YAML from 'yaml'
import type { SiteReach } from './data.js'

/** Why an error return is not reached; 'reachable' ones want a test. */
export type UnreachedClass =
  | 'reachable'
  | 'allocation'
  | 'fault-injection'
  | 'kernel-bug-check'
  | 'hardware'
  | 'dead-on-x86'
  | 'dead-code'
  | 'selftest-only'
  | 'race'
  | 'kernel-caller'
  | 'other-guest'
  | 'unclassified'

export const UNREACHED_CLASSES: Record<UnreachedClass, string> = {
  reachable: 'reachable from user space on these guests: a test is wanted',
  allocation: 'an allocation failure: needs fault injection (failslab / fail_page_alloc)',
  'fault-injection': 'an error of a lower layer that a working guest never returns: needs fault injection',
  'kernel-bug-check': 'a WARN_ON or similar: fires only on a kernel bug (a caller breaking the API), not from user space',
  hardware: 'needs hardware or a device feature QEMU does not emulate',
  'dead-on-x86': 'code for another architecture or platform, dead on x86',
  'dead-code': 'no input reaches it in this kernel version: an earlier check refuses everything it would',
  'selftest-only': 'the iommufd selftest interface (IOMMUFD_TEST): reached by the kernel own selftests only',
  race: 'a race window (concurrent removal, a lost reference): not reachable deterministically',
  'kernel-caller': 'reached only through an in-kernel API whose callers here never take that path (another driver, module registration, the mdev pin/rw API mtty does not use)',
  'other-guest': 'reachable from user space, but not on the main job\'s guests: needs a topology, kernel option or QEMU the main job does not boot',
  unclassified: 'not yet explained',
}

export interface UnreachedEntry {
  /** Site id: file:function:ERRNO#k (harness/coverage/sites.ts). */
  site: string
  line: number
  check: string
  class: UnreachedClass
  reason: string
}

/** A first guess from the check's text and place; a human confirms or rewrites it. */
export function suggestReason(r: SiteReach): { class: UnreachedClass; reason: string } {
  const s = r.site
  const check = s.guard?.text ?? ''
  const stmt = s.text
  if (/\bWARN_ON(_ONCE)?\b|\bBUG_ON\b/.test(check)) return { class: 'kernel-bug-check', reason: `WARN_ON(${check.replace(/^WARN_ON(_ONCE)?\(|\)$/g, '')}): a kernel bug check` }
  if (/vfio_pci_zdev|spapr|fsl-mc|cdx|platform\//.test(s.file)) return { class: 'dead-on-x86', reason: `${s.file}: not an x86 device` }
  if (/vfio_pci_igd\.c$/.test(s.file)) return { class: 'hardware', reason: 'Intel integrated graphics (IGD) OpRegion: QEMU emulates no IGD' }
  if (/iommufd\/selftest\.c$/.test(s.file)) return { class: 'selftest-only', reason: 'iommufd mock domains: tools/testing/selftests/iommu only (they do not compile against 6.12)' }
  if (/mig|migration/i.test(s.function)) return { class: 'hardware', reason: 'device migration: no variant driver with migration for the emulated devices' }
  if (/dirty/i.test(s.function) || /iova_bitmap/.test(s.file)) return { class: 'hardware', reason: 'dirty tracking: no vIOMMU of QEMU offers it to the guest' }
  if (/iommufd\/fault\.c$/.test(s.file)) return { class: 'hardware', reason: 'I/O page faults (PRI): no emulated device issues page requests' }
  if (s.errno === 'ENOMEM' || /\b(kzalloc|kmalloc|kcalloc|kvzalloc|alloc_)\w*/.test(stmt)) return { class: 'allocation', reason: 'allocation failure' }
  if (s.errno === 'EFAULT' && /copy_(from|to)_user|get_user|put_user/.test(check + stmt)) return { class: 'reachable', reason: 'a bad user pointer (EFAULT): a test with an unmapped argument' }
  if (/argsz < minsz|->argsz|\.argsz/.test(check)) return { class: 'reachable', reason: 'argsz smaller than the structure: a test with a short argsz' }
  if (/flags/.test(check)) return { class: 'reachable', reason: 'unknown flags: a test with a bad flag' }
  return { class: 'unclassified', reason: 'TODO' }
}

/** Entries of an unreached file that lack a reason: class 'unclassified', an unknown class, or reason TODO / empty. */
export function unexplained(text: string): UnreachedEntry[] {
  const doc = YAML.parse(text) as { sites?: UnreachedEntry[] } | null
  return (doc?.sites ?? []).filter((e) => !(e.class in UNREACHED_CLASSES) || e.class === 'unclassified' || !e.reason?.trim() || /^TODO\b/.test(e.reason.trim()))
}

/** The new file text: every not-reached site of the report, reasons kept from `previous`. */
export function unreachedFile(reach: SiteReach[], meta: { kernel: string; command: string; date: string }, previous?: string): string {
  const old = new Map<string, UnreachedEntry>()
  if (previous) {
    const doc = YAML.parse(previous) as { sites?: UnreachedEntry[] } | null
    for (const e of doc?.sites ?? []) old.set(e.site, e)
  }
  const entries: UnreachedEntry[] = reach
    .filter((r) => r.status === 'not reached')
    .sort((a, b) => a.site.file.localeCompare(b.site.file) || a.site.line - b.site.line)
    .map((r) => {
      const kept = old.get(r.site.id)
      const guess = suggestReason(r)
      return {
        site: r.site.id,
        line: r.site.line,
        check: r.site.guard ? `if (${r.site.guard.text})` : r.site.text,
        class: kept && kept.class !== 'unclassified' ? kept.class : guess.class,
        reason: kept && kept.reason !== 'TODO' ? kept.reason : guess.reason,
      }
    })
  const counts = new Map<UnreachedClass, number>()
  for (const e of entries) counts.set(e.class, (counts.get(e.class) ?? 0) + 1)
  const header = [
    `# Error returns of ${meta.kernel} that no test of the main job reaches, each with the reason.`,
    `# Made by \`${meta.command}\` on ${meta.date}; re-running it keeps the`,
    '# reasons written here (by site id), adds new sites with a suggested reason and drops the',
    '# sites a test now reaches. Classes:',
    ...Object.entries(UNREACHED_CLASSES).map(([k, v]) => `#   ${k}: ${v}${counts.get(k as UnreachedClass) ? ` (${counts.get(k as UnreachedClass)})` : ''}`),
    '',
  ]
  return header.join('\n') + YAML.stringify({ kernel: meta.kernel, sites: entries }, { lineWidth: 0 })
}
