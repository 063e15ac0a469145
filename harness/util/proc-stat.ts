// /proc/PID/stat, the two fields the harness reads: a process's state and its parent.
import { readFileSync } from 'node:fs'

export interface ProcStat {
  /** R running, S sleeping, D disk sleep, T stopped, t traced, Z zombie, ... */
  state: string
  ppid: number
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
  const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { state: state!, ppid: Number(ppid) }
}
