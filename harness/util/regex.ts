// Text that goes into a RegExp literally (a test name in a --filter, a marker line awaited on the console).

/** `s` with every RegExp metacharacter escaped: new RegExp(escapeRegExp(s)) matches s itself. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
