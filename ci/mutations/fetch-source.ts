// Prints the directory of Debian's linux-source-6.12 as the harness unpacks it (downloading it
// through the project apt when the cache has none; nothing is built). run.sh calls it when the
// cache has no unpacked tree yet. A file, not `tsx -e`: tsx compiles -e code as CommonJS, where
// a top-level await is a syntax error.
import { sourceBuildRequest } from '../../harness/kernel/source-provider.js'

const spec = process.argv[2] ?? 'debian-source:6.12'
try {
  const r = await sourceBuildRequest(spec)
  console.log(r.tree)
} catch (e) {
  console.error(`fetch-source: ${spec}: ${(e as Error).message}`)
  process.exit(1)
}
