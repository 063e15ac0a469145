// One mutant per enforcement site (./sites.ts):
//   errno-check  `if (COND)` -> `if ((COND) && 0)`: the check never fires; COND is still
//                evaluated, so its side effects (copy_from_user, get_user, a lookup that
//                takes a reference) stay and only the enforcement goes.
//   release      `release_call(args);` -> `;`: the release/unblock/uncharge is skipped.
// A mutant is a text replacement of the site's span in one file; its identity (the cache
// key, with the kernel's) is the hash of the file's name, its original content and the edit.
import { sha256 } from '../util/cache.js'
import type { Site } from './sites.js'

export type MutantOperator = 'drop-check' | 'skip-release'

export interface Mutant {
  site: Site
  operator: MutantOperator
  /** Replacement text for site.span. */
  replacement: string
  /** sha256 of file name, original file content hash, span and replacement (hex, 16). */
  key: string
  /** The changed line(s), before and after, for reports. */
  before: string
  after: string
}

export function mutantFor(site: Site, original: string): Mutant {
  const [a, b] = site.span
  const text = original.slice(a, b)
  const operator: MutantOperator = site.kind === 'release' ? 'skip-release' : 'drop-check'
  const replacement = operator === 'drop-check' ? `(${text}) && 0` : `; /* vfio-conform mutant: skipped ${text.split('(')[0]!.trim()} */`
  const lineStart = original.lastIndexOf('\n', a - 1) + 1
  const nl = original.indexOf('\n', b)
  const lineEnd = nl < 0 ? original.length : nl
  const before = original.slice(lineStart, lineEnd)
  const after = original.slice(lineStart, a) + replacement + original.slice(b, lineEnd)
  const key = sha256([site.file, '\0', sha256(original), '\0', `${a}:${b}`, '\0', replacement]).slice(0, 16)
  return { site, operator, replacement, key, before, after }
}

/** The file's content with the mutant applied. Throws when the span no longer holds the site's text. */
export function applyMutant(m: Mutant, original: string): string {
  const [a, b] = m.site.span
  const collapsed = original.slice(a, b).replace(/\s+/g, ' ').trim()
  if (collapsed !== m.site.text) throw new Error(`${m.site.id}: the file changed under the site (found "${collapsed.slice(0, 60)}")`)
  return original.slice(0, a) + m.replacement + original.slice(b)
}

/** A unified-diff-like excerpt of a mutant, for reports and the cache record. */
export function mutantDiff(m: Mutant): string {
  return `--- a/${m.site.file}:${m.site.line}\n+++ b/${m.site.file}:${m.site.line}\n-${m.before.trim()}\n+${m.after.trim()}\n`
}

// ---------------------------------------------------------------------------------------
// Mutant schemata: every mutant of a sweep compiled into one kernel, each behind a guard that
// a boot parameter turns on (`vfio_conform_mutant=N`; 0 or absent: the unmutated kernel). One
// build serves every mutant, which then costs a boot and its tests only. When mutant N is on,
// its site behaves exactly as its patch (mutantFor): the condition is evaluated and ignored,
// or the release call is skipped.

export const SCHEMATA_PARAM = 'vfio_conform_mutant'

const SCHEMATA_HEAD = `/* vfio-conform mutant schemata: boot with ${SCHEMATA_PARAM}=N to turn mutant N on */
extern int ${SCHEMATA_PARAM};
static int vfio_conform_taken(int n, int cond);
#define VFIO_CONFORM_MUTANT_ON(n) (${SCHEMATA_PARAM} == (n))
`

/** The console line a schemata kernel prints the first time a site's error path (or release call) runs. */
export const TAKEN_LINE = /vfio-conform: mutant site (\d+) taken/g

// Weak: each instrumented file defines it, the link keeps one. Every file's __setup writes
// the same variable; the kernel calls the first one that matches the parameter. The probe
// says once per boot which sites' error paths ran: on the unmutated kernel (N=0) that is the
// error-path coverage of the tests that ran, which decides which mutants a test can kill.
const schemataTail = (maxN: number) => `
/* vfio-conform mutant schemata */
int ${SCHEMATA_PARAM} __attribute__((weak));
static int __init vfio_conform_mutant_setup(char *s)
{
	return kstrtoint(s, 0, &${SCHEMATA_PARAM}) == 0;
}
__setup("${SCHEMATA_PARAM}=", vfio_conform_mutant_setup);
static unsigned long vfio_conform_seen[BITS_TO_LONGS(${maxN + 1})];
static int vfio_conform_taken(int n, int cond)
{
	if (cond && !test_and_set_bit(n, vfio_conform_seen))
		printk(KERN_NOTICE "vfio-conform: mutant site %d taken\\n", n);
	return cond;
}
`

/** The guarded replacement of mutant `m` under number n. */
export function schemataReplacement(m: Mutant, original: string, n: number): string {
  const text = original.slice(m.site.span[0], m.site.span[1])
  return m.operator === 'drop-check'
    ? `vfio_conform_taken(${n}, !!(${text})) && !VFIO_CONFORM_MUTANT_ON(${n})`
    : `if (vfio_conform_taken(${n}, 1) && !VFIO_CONFORM_MUTANT_ON(${n})) ${text}`
}

/** One file's content with the given mutants (all of that file) guarded by their numbers. */
export function applySchemata(original: string, mutants: Array<{ mutant: Mutant; n: number }>): string {
  const sorted = [...mutants].sort((a, b) => b.mutant.site.span[0] - a.mutant.site.span[0])
  let out = original
  let prevStart = Infinity
  for (const { mutant, n } of sorted) {
    const [a, b] = mutant.site.span
    if (b > prevStart) throw new Error(`${mutant.site.id}: overlaps another site`)
    if (original.slice(a, b).replace(/\s+/g, ' ').trim() !== mutant.site.text) throw new Error(`${mutant.site.id}: the file changed under the site`)
    out = out.slice(0, a) + schemataReplacement(mutant, original, n) + out.slice(b)
    prevStart = a
  }
  return SCHEMATA_HEAD + out + schemataTail(Math.max(0, ...mutants.map((m) => m.n)))
}
