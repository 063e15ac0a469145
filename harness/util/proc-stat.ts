// /proc/PID/stat, the two fields the harness reads: a process's state and its parent.
import { readFileSync } from 'node:fs'

export interface ProcStat {
  /** R running, S sleeping, D disk sleep, T stopped, t traced, Z zombie, ... */
  state: string
  ppid: number
  /** Start time in clock ticks since boot (field 22): with the pid, names one process for good. */
  startTime: string
}

/** Undefined when the process is gone (or /proc is absent). Synchronous: usable in signal handlers. */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so parse after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // f[0] is field 3 (state), so field 22 (starttime) is f[19].
  return { state: f[0]!, ppid: Number(f[1]), startTime: f[19]! }
}
