// The process's own children, read from /proc: a signal handler has to stop them synchronously
// (vitest's fork workers, a kernel build's make, a guest's QEMU), because Node exits right after.
import { readdirSync } from 'node:fs'
import { procStat } from './proc-stat.js'

/** PIDs whose parent is `ppid` (default: this process). Linux /proc; empty where it is absent. */
export function childPids(ppid = process.pid): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const out: number[] = []
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    // undefined: the process ended while we read
    if (procStat(Number(e))?.ppid === ppid) out.push(Number(e))
  }
  return out
}

/** Sends `signal` to every child of this process; returns the PIDs signalled. */
export function signalChildren(signal: NodeJS.Signals): number[] {
  const pids = childPids()
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      /* gone */
    }
  }
  return pids
}
