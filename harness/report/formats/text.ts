// Cleaning the free text of a run (failure messages, assertion diffs, guest errors) before a
// report format embeds it. vitest colours its diffs with ANSI escapes and the harness tags
// its own errors; neither means anything in a KTAP file, an XML attribute or a KCIDB field.
import { HARNESS_ERROR_TAG } from '../../util/errors.js'

// CSI sequences ("\x1b[32m"), OSC sequences (terminal titles, hyperlinks) and two-byte escapes.
const ANSI_ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g
const HARNESS_TAG = new RegExp(`${HARNESS_ERROR_TAG.replace(/[[\]]/g, '\\$&')}\\s*`, 'g')
// C0 controls other than tab and newline, DEL and the C1 block: unreadable in every format.
const CONTROL_CHARS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g

/** Text as a report shows it: no ANSI colours, no harness tag, "\n" line ends, no control characters. */
export function cleanText(s: string): string {
  return s
    .replace(ANSI_ESCAPE, '')
    .replace(HARNESS_TAG, '')
    .replace(/\r\n?/g, '\n')
    .replace(CONTROL_CHARS, '')
}

/** The first non-empty line of cleaned text, trimmed ('' for none). */
export function firstLine(s: string): string {
  return (
    cleanText(s)
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? ''
  )
}

/**
 * At most `max` code points (JSON Schema's maxLength counts code points, not UTF-16 units);
 * a cut text ends with `marker`, which counts towards `max`.
 */
export function truncateCodePoints(s: string, max: number, marker = '\n[... truncated]'): string {
  const points = Array.from(s)
  if (points.length <= max) return s
  const keep = Math.max(0, max - Array.from(marker).length)
  return points.slice(0, keep).join('') + marker
}
