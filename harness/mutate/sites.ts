// Enforcement sites of a kernel C file, found in its text: each `if (COND)` whose body
// returns or sets an errno (`return -EBUSY;`, `return ERR_PTR(-EPERM);`, `ret = -EINVAL;
// goto out;`), and each `rc = -E...;` followed by `if (COND) goto ...;` (the iommufd style).
// The site is the innermost such `if`, its condition the check a mutant drops.
//
// Also the release calls that pair with a check (unblock, release the DMA owner, uncharge,
// unpin): a mutant skips one, so a test must notice the state left behind.
//
// This is a scanner, not a C parser: comments, strings and character literals are blanked
// first (offsets kept), parentheses and braces are matched, preprocessor lines are ignored.
// Kernel code is regular enough for that; a construct it misreads yields no site (never a
// wrong mutant: every mutant is checked to change exactly the condition's text).

export type SiteKind =
  /** `if (COND) return -E...` and friends: the mutant makes the check never fire. */
  | 'errno-check'
  /** A call that undoes what a check guarded (unblock, release owner, uncharge, unpin): skipped. */
  | 'release'

/** Why a site is not worth a guest run: no test can reach it without a fault injection or a kernel bug. */
export type StaticReason = 'allocation-failure' | 'warn-on'

export interface Site {
  /** "drivers/vfio/group.c:417" (file relative to the tree, 1-based line of the condition or call). */
  id: string
  file: string
  line: number
  /** The function the site is in ("" when outside one). */
  func: string
  kind: SiteKind
  /** The errno the check returns ("EBUSY"), for errno-check sites. */
  errno?: string
  /** The condition as written (whitespace collapsed), or the call statement for release sites. */
  text: string
  /** [start, end) of the text a mutant replaces: the condition inside `if (...)`, or the call statement. */
  span: [number, number]
  /** Set when the site can only be reached by a fault injection or a kernel bug. */
  staticReason?: StaticReason
}

/** Comments, strings and char literals replaced by spaces (newlines kept): offsets stay valid. */
export function blankNonCode(src: string): string {
  const out = src.split('')
  let i = 0
  const blank = (a: number, b: number) => {
    for (let k = a; k < b; k++) if (out[k] !== '\n') out[k] = ' '
  }
  while (i < src.length) {
    const c = src[i]!
    const n = src[i + 1]
    if (c === '/' && n === '*') {
      const e = src.indexOf('*/', i + 2)
      const end = e < 0 ? src.length : e + 2
      blank(i, end)
      i = end
    } else if (c === '/' && n === '/') {
      const e = src.indexOf('\n', i)
      const end = e < 0 ? src.length : e
      blank(i, end)
      i = end
    } else if (c === '"' || c === "'") {
      let k = i + 1
      while (k < src.length && src[k] !== c && src[k] !== '\n') k += src[k] === '\\' ? 2 : 1
      blank(i + 1, Math.min(k, src.length))
      i = k + 1
    } else if (c === '#' && (i === 0 || src[i - 1] === '\n' || /^[ \t]*$/.test(src.slice(src.lastIndexOf('\n', i - 1) + 1, i)))) {
      // A preprocessor line (with its continuations).
      let k = i
      for (;;) {
        const e = src.indexOf('\n', k)
        if (e < 0) {
          k = src.length
          break
        }
        if (src[e - 1] === '\\') {
          k = e + 1
          continue
        }
        k = e
        break
      }
      blank(i, k)
      i = k
    } else i++
  }
  return out.join('')
}

/** Index of the bracket that closes the one at `open` (code already blanked), or -1. */
export function matchBracket(code: string, open: number): number {
  const o = code[open]!
  const c = o === '(' ? ')' : o === '{' ? '}' : o === '[' ? ']' : ''
  if (!c) return -1
  let depth = 0
  for (let i = open; i < code.length; i++) {
    if (code[i] === o) depth++
    else if (code[i] === c && --depth === 0) return i
  }
  return -1
}

const skipWs = (code: string, i: number) => {
  while (i < code.length && /\s/.test(code[i]!)) i++
  return i
}

/** End (exclusive, after the `;` or `}`) of the statement starting at i. */
export function statementEnd(code: string, i: number): number {
  i = skipWs(code, i)
  if (code[i] === '{') {
    const e = matchBracket(code, i)
    return e < 0 ? code.length : e + 1
  }
  const kw = /^(if|while|for|switch)\b/.exec(code.slice(i, i + 8))
  if (kw) {
    const p = skipWs(code, i + kw[1]!.length)
    const e = code[p] === '(' ? matchBracket(code, p) : -1
    if (e < 0) return code.length
    const end = statementEnd(code, e + 1)
    if (kw[1] === 'if') {
      const k = skipWs(code, end)
      if (/^else\b/.test(code.slice(k, k + 5))) return statementEnd(code, k + 4)
    }
    return end
  }
  if (/^do\b/.test(code.slice(i, i + 3))) {
    const body = statementEnd(code, i + 2)
    const semi = code.indexOf(';', body)
    return semi < 0 ? code.length : semi + 1
  }
  // A plain statement: up to the `;` at depth 0.
  let depth = 0
  for (let k = i; k < code.length; k++) {
    const ch = code[k]!
    if (ch === '(' || ch === '{' || ch === '[') depth++
    else if (ch === ')' || ch === '}' || ch === ']') {
      if (depth === 0) return k
      depth--
    } else if (ch === ';' && depth === 0) return k + 1
  }
  return code.length
}

interface IfStmt {
  /** Offset of `if`. */
  at: number
  /** The condition, inside the parentheses. */
  cond: [number, number]
  /** The then-statement. */
  body: [number, number]
}

function findIfs(code: string): IfStmt[] {
  const out: IfStmt[] = []
  const re = /\bif\s*\(/g
  for (let m = re.exec(code); m; m = re.exec(code)) {
    const open = m.index + m[0].length - 1
    const close = matchBracket(code, open)
    if (close < 0) continue
    const bodyStart = skipWs(code, close + 1)
    const bodyEnd = statementEnd(code, bodyStart)
    out.push({ at: m.index, cond: [open + 1, close], body: [bodyStart, bodyEnd] })
  }
  return out
}

/** Function bodies: [name, start of `{`, end after `}`], for top-level definitions. */
export function findFunctions(code: string): Array<{ name: string; start: number; end: number }> {
  const out: Array<{ name: string; start: number; end: number }> = []
  let i = 0
  while (i < code.length) {
    const open = code.indexOf('{', i)
    if (open < 0) break
    const close = matchBracket(code, open)
    if (close < 0) break
    // A definition: `name(args)` right before the brace (attributes/whitespace between).
    const before = code.slice(Math.max(0, open - 400), open)
    const m = /\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*(?:__[a-z_]+(?:\([^)]*\))?\s*)*$/.exec(before)
    if (m && !/^(if|for|while|switch|sizeof|return)$/.test(m[1]!)) out.push({ name: m[1]!, start: open, end: close + 1 })
    i = close + 1
  }
  return out
}

const ERRNO_IN_BODY = /\breturn\s+(?:ERR_PTR\s*\(\s*)?-(E[A-Z0-9]+)\b|(?:^|[;{}\s])[\w.>\-[\]]+\s*=\s*(?:ERR_PTR\s*\(\s*)?-(E[A-Z0-9]+)\s*\)?\s*;/g
const ERRNO_ASSIGN = /(?:^|[;{}\s])([\w.>\-[\]]+)\s*=\s*-(E[A-Z0-9]+)\s*;/g

/**
 * Calls that undo a guarded state: a mutant that skips one leaves the group blocked, the
 * owner claimed, the memory charged or the pages pinned.
 */
export const RELEASE_CALL =
  /^\s*((?:vfio_device_unblock_group|iommu_group_release_dma_owner|iommu_device_release_dma_owner|vfio_group_unuse_container|vfio_device_group_unuse_iommu|vfio_lock_acct|decr_user_locked_vm|iopt_unaccess_pages|iommufd_access_unpin_pages|vfio_unpin_pages_remote|vfio_unpin_page_external|iopt_area_unpin\w*|iommu_detach_group|iommufd_device_detach|iommufd_hw_pagetable_detach|iommufd_access_detach)\s*\([^;]*\)\s*;)/

function lineOf(src: string, at: number): number {
  let n = 1
  for (let i = 0; i < at; i++) if (src.charCodeAt(i) === 10) n++
  return n
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim()

/** The statement before `at` inside [from, at): its text (blanked code), for the allocation check. */
function previousStatement(code: string, from: number, at: number): string {
  const seg = code.slice(from, at)
  const parts = seg.split(';')
  // The last part is whitespace before `at`; the one before it is the previous statement.
  return parts.length >= 2 ? parts[parts.length - 2]! : ''
}

function staticReasonOf(code: string, cond: string, errno: string | undefined, fnStart: number, at: number): StaticReason | undefined {
  const c = collapse(cond)
  if (/^(unlikely\()?\s*(WARN_ON|WARN_ON_ONCE|WARN|BUG_ON)\s*\(/.test(c)) return 'warn-on'
  if (errno === 'ENOMEM') {
    const prev = previousStatement(code, fnStart, at)
    if (/\b(k[mzv]?alloc\w*|kcalloc|kvcalloc|kvzalloc|kmemdup\w*|kstrdup|vzalloc|vmalloc|kzalloc_node|kmem_cache_zalloc|kmem_cache_alloc|alloc_pages?\w*|__get_free_pages?|xa_alloc\w*|ida_alloc\w*|kasprintf|krealloc\w*|iommufd_object_alloc|__iommufd_object_alloc|iopt_alloc_area|iopt_alloc_pages|alloc_workqueue|mmu_notifier\w*|bitmap_zalloc|kvmalloc\w*|kvmalloc_array|kmalloc_array|dma_alloc\w*)\s*\(/.test(prev)) {
      if (/^!\s*[\w.>\-[\]]+$|^IS_ERR\(|^[\w.>\-[\]]+\s*==\s*NULL$/.test(c)) return 'allocation-failure'
    }
  }
  return undefined
}

/** The enforcement sites of one C file. `file` is the path relative to the tree (for ids). */
export function findSites(file: string, src: string): Site[] {
  const code = blankNonCode(src)
  const ifs = findIfs(code)
  const fns = findFunctions(code)
  const fnAt = (at: number) => fns.find((f) => f.start <= at && at < f.end)
  const sites = new Map<number, Site>()

  const add = (s: Omit<Site, 'id' | 'line' | 'file' | 'func'>, at: number) => {
    if (sites.has(s.span[0])) return
    const fn = fnAt(at)
    if (!fn) return
    const line = lineOf(src, s.span[0])
    sites.set(s.span[0], { id: `${file}:${line}`, file, line, func: fn.name, ...s })
  }

  // (1) errno inside an if's then-body (the innermost if holding it).
  for (let m = ERRNO_IN_BODY.exec(code); m; m = ERRNO_IN_BODY.exec(code)) {
    const at = m.index
    const errno = m[1] ?? m[2]
    let best: IfStmt | undefined
    for (const f of ifs) if (f.body[0] <= at && at < f.body[1] && (!best || f.body[0] > best.body[0])) best = f
    if (!best) continue
    // Not when the errno sits in a nested loop/switch body of the if (a `case`: different check).
    const between = code.slice(best.body[0], at)
    if (/\b(case\s|default\s*:)/.test(between)) continue
    const fn = fnAt(best.at)
    if (!fn) continue
    const condText = src.slice(best.cond[0], best.cond[1])
    add(
      {
        kind: 'errno-check',
        errno,
        text: collapse(condText),
        span: best.cond,
        staticReason: staticReasonOf(code, code.slice(best.cond[0], best.cond[1]), errno, fn.start, best.at),
      },
      best.at,
    )
  }
  ERRNO_IN_BODY.lastIndex = 0

  // (2) `rc = -E...;` then `if (COND) goto label;` (or return rc).
  for (let m = ERRNO_ASSIGN.exec(code); m; m = ERRNO_ASSIGN.exec(code)) {
    const end = m.index + m[0].length
    const k = skipWs(code, end)
    const f = ifs.find((x) => x.at === k)
    if (!f) continue
    const body = code.slice(f.body[0], f.body[1])
    if (!/^\{?\s*(goto\s+\w+|return\s+\w+)\s*;\s*\}?$/.test(body.trim())) continue
    const fn = fnAt(f.at)
    if (!fn) continue
    add(
      {
        kind: 'errno-check',
        errno: m[2],
        text: collapse(src.slice(f.cond[0], f.cond[1])),
        span: f.cond,
        staticReason: staticReasonOf(code, code.slice(f.cond[0], f.cond[1]), m[2], fn.start, f.at),
      },
      f.at,
    )
  }
  ERRNO_ASSIGN.lastIndex = 0

  // (3) release calls as statements of their own (an else's included).
  for (const fn of fns) {
    const body = code.slice(fn.start + 1, fn.end - 1)
    let offset = fn.start + 1
    for (const stmt of body.split(/(?<=[;{}])/)) {
      // The body of an `else` too (`else decr_user_locked_vm(pages, npages);`): the mutant leaves `else ;`.
      const elseLead = /^\s*else\s+/.exec(stmt)?.[0].length ?? 0
      const m = RELEASE_CALL.exec(stmt.slice(elseLead))
      if (m) {
        const lead = elseLead + (stmt.length - elseLead - stmt.slice(elseLead).trimStart().length)
        const start = offset + lead
        const end = start + m[1]!.trim().length
        // Not a definition or declaration of the function itself (we are inside a body).
        add({ kind: 'release', text: collapse(src.slice(start, end)), span: [start, end] }, start)
      }
      offset += stmt.length
    }
  }
  return [...sites.values()].sort((a, b) => a.span[0] - b.span[0])
}
