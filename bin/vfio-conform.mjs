#!/usr/bin/env node
// Entry point: registers tsx so the TypeScript harness runs on Node 20 without a build step.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../harness/cli/main.ts')
// The suites' registries (known issues, behaviours, claims) are the harness's inputs.
const { REGISTRIES } = await import('../suites/registries.ts')
process.exitCode = await main(process.argv.slice(2), REGISTRIES)
