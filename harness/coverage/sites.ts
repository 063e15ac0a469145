// Error-return sites of a kernel C file: every statement that returns or stores a negative
// errno (`return -EINVAL;`, `return ERR_PTR(-ENOMEM);`, `ret = -EBUSY; goto out;`,
// `rc = -EPERM;` before the `if` that jumps) with the function it is in and the `if` that
// guards it. These are the enforcement points a user can run into: coverage reports which
// of them the suites reach (harness/coverage/report.ts), and the mutation sweep drops or
// inverts their guards (the mutate command).
//
// Pure: text in, sites out (unit-tested on excerpts of Linux 6.12 in test/unit/coverage-sites.test.ts).
// Declarations with an errno as the initial value (`int rc = -EINVAL;`) are no site: the
// statement that is reached on an error is the jump after a check, and a declaration is
// reached by every call; a declaration is a site (kind 'init') only when a check a few
// statements on jumps out with its value.
import { isIdent, matchingClose, matchingOpen, tokenize, type Token } from './c-tokens.js'

/** A part of the file: lines (1-based, inclusive) and offsets ([start, end)). */
export interface SourceRange {
  startLine: number
  endLine: number
  start: number
  end: number
}

export interface SiteGuard {
  /**
   * 'if': the site is in a branch of this `if` (then or else); 'after': the site stores the
   * errno in a variable and the next statement is this `if`, whose body jumps (`ret =
   * -EBUSY; if (group->container) goto out;`).
   */
  kind: 'if' | 'after'
  branch: 'then' | 'else'
  /** The condition, without its parentheses. */
  cond: SourceRange
  /** The condition's text, whitespace collapsed. */
  text: string
  /** The whole if statement (condition, branches). */
  stmt: SourceRange
  /**
   * The guarded branch's statement (for 'after': the jump that returns the stored errno).
   * Where the error path is taken: coverage counts a site reached when this runs.
   */
  body: SourceRange
}

export interface ErrorSite {
  /**
   * Stable across line shifts: file:function:ERRNO#k, k counting that errno's sites in that
   * function from 1 (a cache key for results per site).
   */
  id: string
  /** Path as given (relative to the kernel tree, e.g. drivers/vfio/group.c). */
  file: string
  /** Line of the errno. */
  line: number
  /** "EBUSY" */
  errno: string
  /**
   * 'return': `return ...-E...;`; 'assign': `x = ...-E...;` (the value a later return
   * gives); 'init': a declaration's initial value that the next check returns (`int ret =
   * -EBUSY; mutex_lock(..); if (busy) goto out;`): only with that check as its guard.
   */
  kind: SiteKind
  function: string
  /** The statement holding the errno. */
  statement: SourceRange
  /** The statement's text, whitespace collapsed. */
  text: string
  guard?: SiteGuard
}

export type SiteKind = 'return' | 'assign' | 'init'

export interface CFunction {
  name: string
  /** From the function's name to its closing brace. */
  range: SourceRange
  /** The body's braces. */
  body: SourceRange
}

// ---------------------------------------------------------------------------------------
// Statements

interface Stmt {
  kind: 'block' | 'if' | 'loop' | 'switch' | 'do' | 'label' | 'simple'
  /** Token indexes [first, last]. */
  first: number
  last: number
  /** if/loop/switch/do: the parenthesised condition's tokens, parentheses included. */
  lp?: number
  rp?: number
  then?: Stmt
  else?: Stmt
  body?: Stmt
  children?: Stmt[]
}

const LOOP_KEYWORDS = new Set(['for', 'while'])
const STATEMENT_KEYWORDS = new Set(['if', 'else', 'for', 'while', 'do', 'switch', 'case', 'default', 'return', 'goto', 'break', 'continue'])

class StatementParser {
  constructor(private readonly toks: Token[], private readonly limit: number) {}

  /** The statements of the block whose '{' is at `open`. */
  block(open: number): Stmt {
    const close = matchingClose(this.toks, open)
    const end = close < 0 || close > this.limit ? this.limit : close
    const children: Stmt[] = []
    let i = open + 1
    while (i < end) {
      const s = this.statement(i, end)
      children.push(s)
      i = s.last + 1
    }
    return { kind: 'block', first: open, last: end, children }
  }

  private t(i: number): string | undefined {
    return this.toks[i]?.t
  }

  /** One statement starting at token i (before `end`, the enclosing block's '}'). */
  statement(i: number, end: number): Stmt {
    const t = this.t(i)
    if (t === '{') return this.block(i)
    if (t === ';') return { kind: 'simple', first: i, last: i }
    if (t === 'if' && this.t(i + 1) === '(') {
      const rp = this.closeParen(i + 1, end)
      const then = this.statement(rp + 1, end)
      const s: Stmt = { kind: 'if', first: i, last: then.last, lp: i + 1, rp, then }
      if (this.t(then.last + 1) === 'else' && then.last + 1 < end) {
        s.else = this.statement(then.last + 2, end)
        s.last = s.else.last
      }
      return s
    }
    if ((t === 'switch' || LOOP_KEYWORDS.has(t ?? '')) && this.t(i + 1) === '(') {
      const rp = this.closeParen(i + 1, end)
      const body = this.statement(rp + 1, end)
      return { kind: t === 'switch' ? 'switch' : 'loop', first: i, last: body.last, lp: i + 1, rp, body }
    }
    if (t === 'do') {
      const body = this.statement(i + 1, end)
      let last = body.last
      if (this.t(last + 1) === 'while') last = this.simpleEnd(last + 1, end)
      return { kind: 'do', first: i, last, body }
    }
    if (t === 'case' || t === 'default') {
      let k = i + 1
      let depth = 0
      while (k < end) {
        const x = this.t(k)
        if (x === '(' || x === '[') depth++
        else if (x === ')' || x === ']') depth--
        else if (x === ':' && depth === 0) break
        else if (x === '?') depth += 100 // a ?: inside a case value: rare; its ':' is not the label's
        k++
      }
      return { kind: 'label', first: i, last: Math.min(k, end - 1) }
    }
    if (isIdent(t) && this.t(i + 1) === ':' && !STATEMENT_KEYWORDS.has(t!)) return { kind: 'label', first: i, last: i + 1 }
    // A loop or scope macro: `list_for_each_entry(a, b, c) { ... }`, `scoped_guard(mutex, &l) stmt`.
    if (isIdent(t) && !STATEMENT_KEYWORDS.has(t!) && this.t(i + 1) === '(') {
      const rp = this.closeParen(i + 1, end)
      const next = this.t(rp + 1)
      if (rp + 1 < end && (next === '{' || (isIdent(next) && next !== 'else'))) {
        const body = this.statement(rp + 1, end)
        return { kind: 'loop', first: i, last: body.last, lp: i + 1, rp, body }
      }
    }
    return { kind: 'simple', first: i, last: this.simpleEnd(i, end) }
  }

  private closeParen(open: number, end: number): number {
    const rp = matchingClose(this.toks, open)
    return rp < 0 || rp >= end ? end - 1 : rp
  }

  /** The ';' that ends a simple statement (braces of initializers and ({ ... }) inside). */
  private simpleEnd(i: number, end: number): number {
    let depth = 0
    for (let k = i; k < end; k++) {
      const x = this.t(k)
      if (x === '(' || x === '[' || x === '{') depth++
      else if (x === ')' || x === ']' || x === '}') depth--
      else if (x === ';' && depth <= 0) return k
    }
    return end - 1
  }
}

// ---------------------------------------------------------------------------------------
// Functions

/** Attribute-like macros that may stand between a function's parameter list and its body. */
const TRAILING_ANNOTATIONS = new Set(['__acquires', '__releases', '__must_hold', '__attribute__', '__cond_acquires', '__no_context_analysis'])

interface FunctionSpan {
  name: string
  nameTok: number
  open: number
  close: number
}

function functionSpans(toks: Token[]): FunctionSpan[] {
  const out: FunctionSpan[] = []
  let i = 0
  while (i < toks.length) {
    const t = toks[i]!.t
    if (t === '(' || t === '[') {
      const c = matchingClose(toks, i)
      i = c < 0 ? i + 1 : c + 1
      continue
    }
    if (t !== '{') {
      i++
      continue
    }
    const close = matchingClose(toks, i)
    if (close < 0) break
    // A definition: `name(params) [annotations(...)] {`.
    let k = i - 1
    let name: number | undefined
    while (k >= 0 && toks[k]!.t === ')') {
      const lp = matchingOpen(toks, k)
      if (lp <= 0) break
      const before = toks[lp - 1]!.t
      if (!isIdent(before)) break
      if (TRAILING_ANNOTATIONS.has(before)) {
        k = lp - 2
        continue
      }
      name = lp - 1
      break
    }
    // `struct x {`, `= {`, `enum {`: not a function.
    if (name !== undefined && !STATEMENT_KEYWORDS.has(toks[name]!.t) && toks[name - 1]?.t !== '=') {
      out.push({ name: toks[name]!.t, nameTok: name, open: i, close })
    }
    i = close + 1
  }
  return out
}

function range(toks: Token[], first: number, last: number): SourceRange {
  const a = toks[first]!
  const b = toks[last]!
  const endLine = b.line + (b.t.match(/\n/g)?.length ?? 0)
  return { startLine: a.line, endLine, start: a.start, end: b.end }
}

/** The functions defined in a C file, in order. */
export function cFunctions(text: string): CFunction[] {
  const toks = tokenize(text)
  return functionSpans(toks).map((f) => ({ name: f.name, range: range(toks, f.nameTok, f.close), body: range(toks, f.open, f.close) }))
}

// ---------------------------------------------------------------------------------------
// Sites

const ERRNO = /^E[A-Z0-9]{2,}$/
/** Tokens after which a '-' is unary (the start of an operand). */
const OPERAND_START = new Set(['return', '=', '(', ',', '?', ':', '{', '[', '&&', '||', '!'])

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim()

/** The error-return sites of one C file. `file` is the path recorded in each site. */
export function errorSites(text: string, file: string): ErrorSite[] {
  const toks = tokenize(text)
  const out: ErrorSite[] = []
  for (const fn of functionSpans(toks)) {
    const parser = new StatementParser(toks, fn.close)
    const body = parser.block(fn.open)
    const counts = new Map<string, number>()
    const visit = (s: Stmt, chain: Array<{ stmt: Stmt; branch?: 'then' | 'else' }>, following: Stmt[] = []) => {
      if (s.kind === 'simple') {
        for (const site of simpleSites(toks, s)) {
          const guard = guardOf(toks, text, s, chain, following, site.kind)
          if (site.kind === 'init' && !guard) continue
          const k = (counts.get(site.errno) ?? 0) + 1
          counts.set(site.errno, k)
          out.push({
            id: `${file}:${fn.name}:${site.errno}#${k}`,
            file,
            line: site.line,
            errno: site.errno,
            kind: site.kind,
            function: fn.name,
            statement: range(toks, s.first, s.last),
            text: collapse(text.slice(toks[s.first]!.start, toks[s.last]!.end)),
            ...(guard ? { guard } : {}),
          })
        }
        return
      }
      if (s.kind === 'block') {
        const kids = s.children ?? []
        kids.forEach((c, j) => visit(c, [...chain, { stmt: s }], kids.slice(j + 1)))
        return
      }
      if (s.kind === 'if') {
        if (s.then) visit(s.then, [...chain, { stmt: s, branch: 'then' }])
        if (s.else) visit(s.else, [...chain, { stmt: s, branch: 'else' }])
        return
      }
      if (s.body) visit(s.body, [...chain, { stmt: s }])
    }
    visit(body, [])
  }
  return out
}

/** Errno operands of a simple statement that is a return or an assignment. */
function simpleSites(toks: Token[], s: Stmt): Array<{ errno: string; line: number; kind: SiteKind }> {
  const first = toks[s.first]!.t
  let kind: SiteKind | undefined
  if (first === 'return') kind = 'return'
  else {
    // An assignment at depth 0 whose left side is not a declaration (`int rc = -EINVAL`:
    // two names in a row before the '=').
    let depth = 0
    for (let k = s.first; k <= s.last; k++) {
      const x = toks[k]!.t
      if (x === '(' || x === '[' || x === '{') depth++
      else if (x === ')' || x === ']' || x === '}') depth--
      else if (x === '=' && depth === 0) {
        const lhs = toks.slice(s.first, k).map((q) => q.t)
        const declaration = lhs.some((q, j) => j > 0 && isIdent(q) && isIdent(lhs[j - 1]) && !['struct', 'union', 'enum'].includes(q))
        kind = declaration ? 'init' : 'assign'
        break
      }
    }
  }
  if (!kind) return []
  const found: Array<{ errno: string; line: number; kind: SiteKind }> = []
  for (let k = s.first + 1; k < s.last; k++) {
    if (toks[k]!.t !== '-' || !ERRNO.test(toks[k + 1]?.t ?? '')) continue
    const prev = toks[k - 1]!.t
    const after = toks[k + 2]?.t
    if (!OPERAND_START.has(prev)) continue
    if (after === '==' || after === '!=') continue
    found.push({ errno: toks[k + 1]!.t, line: toks[k + 1]!.line, kind })
  }
  return found
}

const JUMPS = new Set(['goto', 'return', 'break', 'continue'])

/** Does the statement always jump (goto/return/break/continue, or a block ending in one)? */
function jumps(toks: Token[], s: Stmt | undefined): boolean {
  if (!s) return false
  if (s.kind === 'simple') return JUMPS.has(toks[s.first]!.t)
  if (s.kind === 'block') return jumps(toks, s.children?.[s.children.length - 1])
  return false
}

/**
 * Does the statement leave with the variable's value: a goto (to the function's error
 * exit), `return name` / `return ERR_PTR(name)`, or a break out of a loop (or a block that
 * ends so)? `return -EFOO` returns something else.
 */
function jumpsWith(toks: Token[], s: Stmt | undefined, name: string | undefined): boolean {
  if (!s) return false
  if (s.kind === 'block') {
    // A branch that stores its own value in the variable returns that, not ours.
    const kids = s.children ?? []
    if (name !== undefined && kids.some((k) => k.kind === 'simple' && assignedName(toks, k) === name)) return false
    return jumpsWith(toks, kids[kids.length - 1], name)
  }
  if (s.kind !== 'simple') return false
  const first = toks[s.first]!.t
  if (first === 'goto' || first === 'break') return true
  if (first !== 'return' || name === undefined) return false
  const value = toks.slice(s.first + 1, s.last).map((q) => q.t)
  return isIdent(name) ? value.includes(name) : value.join('') === name
}

function guardOf(
  toks: Token[],
  text: string,
  s: Stmt,
  chain: Array<{ stmt: Stmt; branch?: 'then' | 'else' }>,
  following: Stmt[],
  kind: SiteKind,
): SiteGuard | undefined {
  // The innermost construct around the statement (blocks aside) decides: an if guards it,
  // a loop or switch in between means the if further out is not its check.
  for (let j = chain.length - 1; j >= 0 && kind !== 'init'; j--) {
    const { stmt, branch } = chain[j]!
    if (stmt.kind === 'block') continue
    if (stmt.kind === 'if') return ifGuard(toks, text, stmt, 'if', branch!)
    break
  }
  if (kind === 'assign' || kind === 'init') {
    // `ret = -ENOMEM; a = kzalloc(...); b = kzalloc(...); if (!a || !b) goto out;`: the
    // first if that jumps, a few plain statements on, none of which stores the variable again.
    const lhs = kind === 'init' ? declaredName(toks, s) : assignedName(toks, s)
    for (const n of following.slice(0, 4)) {
      if (n.kind === 'if') return !n.else && jumpsWith(toks, n.then, lhs) ? ifGuard(toks, text, n, 'after', 'then') : undefined
      if (n.kind !== 'simple' || jumps(toks, n) || (lhs !== undefined && assignedName(toks, n) === lhs)) return undefined
    }
  }
  return undefined
}

/** The name a declaration `T *x = ...;` declares: the last name before the '='. */
function declaredName(toks: Token[], s: Stmt): string | undefined {
  for (let k = s.first; k <= s.last; k++) if (toks[k]!.t === '=') return k > s.first && isIdent(toks[k - 1]!.t) ? toks[k - 1]!.t : undefined
  return undefined
}

/** The left side of `x = ...;` / `p->x = ...;` as text; undefined when not an assignment. */
function assignedName(toks: Token[], s: Stmt): string | undefined {
  let depth = 0
  for (let k = s.first; k <= s.last; k++) {
    const x = toks[k]!.t
    if (x === '(' || x === '[' || x === '{') depth++
    else if (x === ')' || x === ']' || x === '}') depth--
    else if (x === '=' && depth === 0) return toks.slice(s.first, k).map((q) => q.t).join('')
  }
  return undefined
}

function ifGuard(toks: Token[], text: string, s: Stmt, kind: 'if' | 'after', branch: 'then' | 'else'): SiteGuard {
  const cond = s.rp! - s.lp! > 1 ? range(toks, s.lp! + 1, s.rp! - 1) : range(toks, s.lp!, s.rp!)
  const b = branch === 'then' ? s.then! : s.else!
  return { kind, branch, cond, text: collapse(text.slice(cond.start, cond.end)), stmt: range(toks, s.first, s.last), body: range(toks, b.first, b.last) }
}
