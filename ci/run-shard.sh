#!/usr/bin/env bash
# One shard of the CI matrix (ci/matrix.ts), exactly as the GitHub and GitLab shard jobs run it:
#
#   ci/run-shard.sh SHARD_INDEX SHARD_COUNT [vitest args...]
#
#   ci/run-shard.sh 1 5                                   # shard 1 of 5, as CI runs it
#   VFIO_CONFORM_TOPOLOGIES=default VFIO_CONFORM_IOMMUS=intel-iommu \
#     ci/run-shard.sh 1 5 suites/groups.test.ts           # a smaller piece of it, by hand
#
# VFIO_CONFORM_KERNELS / _TOPOLOGIES / _IOMMUS, when set, narrow the shard's plan (CI sets
# none of them); extra arguments go to vitest (file filters, -t PATTERN, ...), and so do the
# words of VFIO_CONFORM_SHARD_ARGS (how a job of the CI templates is narrowed without editing
# its script: test/slow/gitlab-pipeline.e2e.test.ts runs the GitLab template that way).
#
# What it does: `vfio-conform setup` (installs host packages as root; otherwise names the
# apt-get line and exits 2), then the conformance project on the shard's plan.
# Everything lands in vfio-conform-results/ci-<shard name>/, which each run replaces:
#   per-guest console and QEMU logs, verdicts.json, targets.json,     the run (the verdict
#   report.ktap, report.junit.xml, report.kcidb.json,                 reporter writes the
#   behaviours.md (with the claims section), behaviours.html          reports)
#   summary.md, exit-code                            for the CI summary/report job
#
# Exit: the shard's verdict by vfio-conform's contract, read from verdicts.json (vitest's own
# exit status cannot tell a FAIL from an ERROR): 0 nothing failed, 1 a FAIL or XPASS,
# 125 an ERROR and no FAIL (also: the run produced no verdicts), 2 bad usage.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: ci/run-shard.sh SHARD_INDEX SHARD_COUNT [vitest args...]   (shards: npx tsx ci/matrix.ts)" >&2
  exit 2
fi
index=$1
count=$2
shift 2
cd "$(dirname "$0")/.." || exit 2

# SHARD_NAME, SHARD_KERNELS, SHARD_TOPOLOGIES, SHARD_IOMMUS (single-quoted by matrix.ts).
# matrix.ts refuses a SHARD_COUNT that is not its own: a CI template out of step fails here.
assignments=$(npx --no-install tsx ci/matrix.ts --shard "$index/$count") || exit 2
eval "$assignments"

export VFIO_CONFORM_KERNELS=${VFIO_CONFORM_KERNELS:-$SHARD_KERNELS}
export VFIO_CONFORM_TOPOLOGIES=${VFIO_CONFORM_TOPOLOGIES:-$SHARD_TOPOLOGIES}
# The VF-token ownership model (suites/sriov.test.ts, the igb shard's intel-iommu guest, tens of
# seconds) SKIPs in a plain vitest run unless asked for; a shard has its own time.
export VFIO_CONFORM_VF_TOKEN_MODEL=${VFIO_CONFORM_VF_TOKEN_MODEL:-1}
# VFIO_CONFORM_IOMMUS stays unset unless given: each topology then runs under its own models
# (what SHARD_IOMMUS lists); setting it would apply the listed models to every topology.
if [ -z "${VFIO_CONFORM_RUN_DIR:-}" ]; then
  rm -rf "vfio-conform-results/ci-$SHARD_NAME"   # this script's own output of an earlier run
  export VFIO_CONFORM_RUN_DIR=$PWD/vfio-conform-results/ci-$SHARD_NAME
fi
run_dir=$VFIO_CONFORM_RUN_DIR
label="shard $index/$count $SHARD_NAME"

meaning() {
  case $1 in
    0) echo 'nothing failed' ;;
    1) echo 'a test FAILed (or XPASSed)' ;;
    2) echo 'bad usage, nothing ran' ;;
    125) echo 'ERROR (harness, download, build or boot) and no FAIL' ;;
    *) echo 'unexpected' ;;
  esac
}

# Writes exit-code and summary.md (the section the CI report job posts), then exits with $1.
finish() {
  local rc=$1 counts='| - | - | - | - | - | - |'
  mkdir -p "$run_dir"
  echo "$rc" > "$run_dir/exit-code"
  if [ -f "$run_dir/verdicts.json" ]; then
    # ERROR counts run-level errors too, as the verdict reporter's summary line does.
    # shellcheck disable=SC2016 # ${...} below is JavaScript's, not the shell's
    counts=$(node -p '
      const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const c = v.counts;
      `| ${c.PASS} | ${c.FAIL} | ${c.SKIP} | ${c.ERROR + (v.runErrors ?? []).length} | ${c.XFAIL} | ${c.XPASS} |`' "$run_dir/verdicts.json") ||
      counts='| ? | ? | ? | ? | ? | ? |'
  fi
  {
    echo "### $label: exit $rc ($(meaning "$rc"))"
    echo
    echo "kernels \`$VFIO_CONFORM_KERNELS\` · topologies \`$VFIO_CONFORM_TOPOLOGIES\` · vIOMMUs \`${VFIO_CONFORM_IOMMUS:-$SHARD_IOMMUS}\`"
    echo
    echo '| PASS | FAIL | SKIP | ERROR | XFAIL | XPASS |'
    echo '|---:|---:|---:|---:|---:|---:|'
    echo "$counts"
    if [ -s "$run_dir/behaviours.md" ]; then
      printf '\n<details><summary>behaviours and claims</summary>\n\n'
      cat "$run_dir/behaviours.md"
      printf '\n</details>\n'
    fi
    echo
  } > "$run_dir/summary.md"
  echo "run-shard: $label: exit $rc ($(meaning "$rc")); results in $run_dir"
  if [ "${GITHUB_ACTIONS:-}" = true ] && [ "$rc" -ne 0 ]; then
    echo "::error title=vfio-conform $label::exit $rc: $(meaning "$rc")"
  fi
  exit "$rc"
}

plan="VFIO_CONFORM_KERNELS=$VFIO_CONFORM_KERNELS VFIO_CONFORM_TOPOLOGIES=$VFIO_CONFORM_TOPOLOGIES"
[ -n "${VFIO_CONFORM_IOMMUS:-}" ] && plan="$plan VFIO_CONFORM_IOMMUS=$VFIO_CONFORM_IOMMUS"
echo "run-shard: $label: $plan -> $run_dir"

node bin/vfio-conform.mjs setup
rc=$?
[ "$rc" -eq 0 ] || finish "$rc"

# The config's reporters (default + verdict reporter, which writes verdicts.json). On GitHub
# also its annotations, which vitest adds by itself only when no reporters are configured.
reporters=(--reporter=default --reporter=./suites/verdict-reporter.ts)
[ "${GITHUB_ACTIONS:-}" = true ] && reporters+=(--reporter=github-actions)
rm -f "$run_dir/verdicts.json"
# shellcheck disable=SC2086 # VFIO_CONFORM_SHARD_ARGS is split into words on purpose
npx --no-install vitest run --project conformance "${reporters[@]}" ${VFIO_CONFORM_SHARD_ARGS:-} "$@"
vitest_rc=$?

if [ -f "$run_dir/verdicts.json" ]; then
  rc=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).exitCode' "$run_dir/verdicts.json") || rc=125
else
  echo "run-shard: ERROR: the run produced no verdicts (vitest exit $vitest_rc)" >&2
  rc=125
fi

finish "$rc"
