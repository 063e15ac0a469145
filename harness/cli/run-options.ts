// The options of `vfio-conform run`, which `model` takes too (but --filter: the model test is
// its filter) and `bench --stability` passes on after `--`.
import { commandSpec, iommuOption, kernelOption, opt, qemuOption, topologyOption } from './options.js'

export const RUN_OPTIONS = {
  kernel: opt.many(kernelOption()),
  topology: topologyOption(),
  iommu: iommuOption(),
  qemu: opt.many(qemuOption()),
  filter: opt.regex(),
  suite: opt.many(opt.text('a suite file name, checked against suites/ before anything runs')),
  bail: opt.flag(),
  'kernel-arg': opt.many(opt.text('one kernel parameter (name or name=value), checked before anything runs')),
  results: opt.path(),
  tcg: opt.flag(),
  matrix: opt.flag(),
  repeat: opt.int(1, 1000),
  'repeat-boot': opt.flag(),
  'allow-flaky': opt.many(opt.regex()),
}
export const RUN_SPEC = commandSpec('run', RUN_OPTIONS)

const { filter: _filter, ...RUN_OPTIONS_BUT_FILTER } = RUN_OPTIONS
export const MODEL_SPEC = commandSpec('model', {
  ...RUN_OPTIONS_BUT_FILTER,
  // fast-check's seeds are 32-bit integers.
  seed: opt.int(-(2 ** 31), 2 ** 31 - 1),
  runs: opt.int(1, 100_000),
  steps: opt.int(1, 10_000),
})
