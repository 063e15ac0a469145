// Progress lines for long work (downloads, builds, boots). Plain timestamped lines on
// stderr so CI logs keep them; nothing is overwritten in place.
const start = Date.now()

export function progress(msg: string): void {
  if (process.env.VFIO_CONFORM_QUIET) return
  const t = ((Date.now() - start) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[vfio-conform ${t}s] ${msg}\n`)
}
