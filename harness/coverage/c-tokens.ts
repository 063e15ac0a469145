// A small C lexer for kernel sources: enough to find functions, statements and conditions
// (harness/coverage/sites.ts), not a compiler. Comments, string and character literals and
// preprocessor lines are blanked first (replaced by spaces, newlines kept) so that every
// offset and line number of a token is the one in the original file.

export interface Token {
  /** The token's text (for a string or character literal: its quotes around blanks). */
  t: string
  /** Offsets in the file text: [start, end). */
  start: number
  end: number
  /** 1-based line of the token's first character. */
  line: number
}

/**
 * The text with comments, literals' contents and preprocessor directives (with their
 * continuation lines) replaced by spaces; newlines are kept, so offsets and lines match.
 * Both sides of an #if/#else stay in the code: for the files this reads, that is what a
 * reader of the source sees, and a side compiled out is visible as "never reached".
 */
export function blankNonCode(text: string): string {
  const out = text.split('')
  const n = text.length
  const blank = (a: number, b: number) => {
    for (let k = a; k < b; k++) if (out[k] !== '\n') out[k] = ' '
  }
  let i = 0
  let lineStart = true
  while (i < n) {
    const c = text[i]!
    if (lineStart) {
      // A directive: '#' first on the line (after blanks); it runs to an unescaped newline.
      let j = i
      while (j < n && (text[j] === ' ' || text[j] === '\t')) j++
      if (text[j] === '#') {
        let k = j
        while (k < n && text[k] !== '\n') {
          if (text[k] === '\\' && text[k + 1] === '\n') k += 2
          else if (text[k] === '/' && text[k + 1] === '*') {
            const e = text.indexOf('*/', k + 2)
            k = e < 0 ? n : e + 2
          } else k++
        }
        blank(j, k)
        i = k
        continue
      }
      lineStart = false
    }
    if (c === '\n') {
      lineStart = true
      i++
    } else if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2)
      const end = e < 0 ? n : e + 2
      blank(i, end)
      i = end
    } else if (c === '/' && text[i + 1] === '/') {
      let e = i
      while (e < n && text[e] !== '\n') e++
      blank(i, e)
      i = e
    } else if (c === '"' || c === "'") {
      let e = i + 1
      while (e < n && text[e] !== c && text[e] !== '\n') e += text[e] === '\\' ? 2 : 1
      blank(i + 1, Math.min(e, n))
      i = e + 1
    } else i++
  }
  return out.join('')
}

const PUNCT3 = ['...', '<<=', '>>=']
const PUNCT2 = ['->', '++', '--', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '##']

/** Tokens of the text (blanked first with blankNonCode). */
export function tokenize(text: string): Token[] {
  const code = blankNonCode(text)
  const toks: Token[] = []
  let line = 1
  let i = 0
  const n = code.length
  while (i < n) {
    const c = code[i]!
    if (c === '\n') {
      line++
      i++
      continue
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\\') {
      i++
      continue
    }
    let e = i + 1
    if (/[A-Za-z_]/.test(c)) {
      while (e < n && /[A-Za-z0-9_]/.test(code[e]!)) e++
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(code[i + 1] ?? ''))) {
      while (e < n && /[A-Za-z0-9_.]/.test(code[e]!)) e++
    } else if (c === '"' || c === "'") {
      while (e < n && code[e] !== c && code[e] !== '\n') e++
      e++
    } else {
      const three = code.slice(i, i + 3)
      const two = code.slice(i, i + 2)
      if (PUNCT3.includes(three)) e = i + 3
      else if (PUNCT2.includes(two)) e = i + 2
    }
    toks.push({ t: code.slice(i, e), start: i, end: e, line })
    for (let k = i; k < e; k++) if (code[k] === '\n') line++
    i = e
  }
  return toks
}

/** Index of the token that closes the bracket opened at `open` ((, [ or {); -1 if none. */
export function matchingClose(toks: Token[], open: number): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' }
  const o = toks[open]?.t
  const c = o ? pairs[o] : undefined
  if (!c) return -1
  let depth = 0
  for (let k = open; k < toks.length; k++) {
    const t = toks[k]!.t
    if (t === o) depth++
    else if (t === c && --depth === 0) return k
  }
  return -1
}

/** Index of the token that opens the bracket closed at `close`; -1 if none. */
export function matchingOpen(toks: Token[], close: number): number {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' }
  const c = toks[close]?.t
  const o = c ? pairs[c] : undefined
  if (!o) return -1
  let depth = 0
  for (let k = close; k >= 0; k--) {
    const t = toks[k]!.t
    if (t === c) depth++
    else if (t === o && --depth === 0) return k
  }
  return -1
}

export const isIdent = (t: string | undefined): boolean => !!t && /^[A-Za-z_][A-Za-z0-9_]*$/.test(t)
