// Collecting a coverage build's gcov counters from a guest, test by test.
//
// The kernel keeps one set of counters per profiled object in debugfs
// (/sys/kernel/debug/gcov/<build's obj dir>/drivers/vfio/group.gcda, ...), as long as the
// guest runs; writing to .../reset zeroes them all. The guest fixture (harness/vitest/
// fixtures.ts) calls beginTest() before a test and endTest() after it (after the test's
// agents are closed and drivers put back, so the release paths count for the test):
//   - the first test on a boot first takes what boot and module loading reached, as the
//     pseudo-test "(boot)";
//   - the counters are zeroed at each test's start and taken at its end: the snapshot is
//     that test's alone (a guest runs one test at a time: harness/vitest/concurrency.ts).
// Snapshots go to <run dir>/coverage/raw/<guest>/<n>.tar (the .gcda files as debugfs names
// them), listed in index.jsonl there (RawSnapshot lines); harness/coverage/gcov.ts turns
// them into coverage.json (harness/coverage/data.ts).
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { SshConnection } from '../ssh/connection.js'
import { HarnessError } from '../util/errors.js'

export const GCOV_DEBUGFS = '/sys/kernel/debug/gcov'
/** Set on the guest once its boot-time counters were taken (tmpfs: a reboot clears it). */
const BOOT_TAKEN = '/run/vfio-conform-gcov-boot-taken'
export const BOOT_TEST = '(boot)'

/** One line of raw/<guest>/index.jsonl. */
export interface RawSnapshot {
  /** The tar beside the index. */
  tar: string
  /** The test's full name as in verdicts.json ("<guest key> > suite > test"), or "(boot)". */
  test: string
  /** The test's file, relative to the project ("suites/groups.test.ts"); "" for (boot). */
  file: string
  /** The guest's key. */
  guest: string
  /** When it was taken (ms since the epoch): the order of the guest's snapshots. */
  at: number
}

// The .gcda files report size 0 in debugfs (they are generated on read), so tar cannot read
// them there: each is copied with cat into a tmpfs directory first.
const SNAPSHOT = `d=${GCOV_DEBUGFS}; t=$(mktemp -d) || exit 1; cd $d || exit 1
find . -name '*.gcda' | while read -r f; do mkdir -p "$t/\${f%/*}" && cat "$f" > "$t/$f"; done
tar -C "$t" -cf - . ; rc=$?; rm -rf "$t"; [ $rc = 0 ] || exit $rc`
const RESET = `echo 1 > ${GCOV_DEBUGFS}/reset`

/** Run a command on the guest and keep its stdout as bytes (a tar). */
export async function execBinary(ssh: SshConnection, command: string, timeoutMs = 60_000): Promise<Buffer> {
  const ch = await ssh.channel(command)
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    let code: number | null = null
    const timer = setTimeout(() => {
      ch.close()
      reject(new HarnessError(`${ssh.label}: "${command.split('\n')[0]}" did not finish in ${timeoutMs} ms`))
    }, timeoutMs)
    ch.on('data', (d: Buffer) => out.push(d))
    ch.stderr.on('data', (d: Buffer) => err.push(d))
    ch.on('exit', (c: number | null) => (code = c))
    ch.on('close', () => {
      clearTimeout(timer)
      // dropbear may drop the exit status under load (see SshConnection.exec): a tar that
      // arrived is what counts.
      if (code !== null && code !== 0) reject(new HarnessError(`${ssh.label}: gcov snapshot exited ${code}: ${Buffer.concat(err).toString().trim()}`))
      else resolve(Buffer.concat(out))
    })
    ch.end()
  })
}

export class CoverageRecorder {
  private n = 0
  constructor(private readonly runDir: string, private readonly guest: string) {}

  private get dir(): string {
    return path.join(this.runDir, 'coverage', 'raw', this.guest.replace(/[^A-Za-z0-9.+-]/g, '_'))
  }

  private async save(tar: Buffer, test: string, file: string): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const name = `${Date.now()}-${process.pid}-${++this.n}.tar`
    await writeFile(path.join(this.dir, name), tar)
    const line: RawSnapshot = { tar: name, test, file, guest: this.guest, at: Date.now() }
    await appendFile(path.join(this.dir, 'index.jsonl'), JSON.stringify(line) + '\n')
  }

  /** Before a test: take the boot's counters if nobody has on this boot, then zero them. */
  async beginTest(ssh: SshConnection): Promise<void> {
    const tar = await execBinary(ssh, `if [ -e ${BOOT_TAKEN} ]; then ${RESET}; else ( ${SNAPSHOT} ) && ${RESET} && touch ${BOOT_TAKEN}; fi`)
    if (tar.length) await this.save(tar, BOOT_TEST, '')
  }

  /** After a test: its counters, then zero them. */
  async endTest(ssh: SshConnection, test: string, file: string): Promise<void> {
    const tar = await execBinary(ssh, `( ${SNAPSHOT} ) && ${RESET}`)
    await this.save(tar, test, file)
  }
}
