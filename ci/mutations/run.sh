#!/usr/bin/env bash
# Mutation check: prove that the conformance tests can FAIL.
#
# For each ci/mutations/*.patch (a kernel patch removing one enforcement), build the
# patched kernel from a private git copy of Debian's linux-source-6.12 (or of the tree its
# "# Tree:" line names, e.g. debian-source:7.2), boot it, run the tests named in the patch's
# "# Filter:" line and check that every one of them FAILs; the same tests must PASS on the
# unpatched tree first (baseline). See ci/mutations/README.md.
#
# Usage: ci/mutations/run.sh [PATCH-NAME...]     (default: every ci/mutations/*.patch)
#        ci/mutations/run.sh --fetch-only [PATCH-NAME...]
#                                                print the pristine tree of every version the
#                                                patches use (fetched when the cache has none)
#                                                and stop
# Exit: 0 baseline passed and every mutation caught; 1 otherwise; 2 setup problem.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${VFIO_CONFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfio-conform}
# The tree a patch applies to unless its "# Tree:" line names another Debian source series.
DEFAULT_SERIES=6.12
# Where a patch's tests run unless its "# Target:" line names another topology/vIOMMU.
DEFAULT_TARGET=default/intel-iommu
GIT=(git -c user.name=vfio-conform -c user.email=vfio-conform@localhost -c commit.gpgsign=false)

log() { printf '[mutations %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
now() { date +%s; }

FETCH_ONLY=0
if [[ ${1:-} == --fetch-only ]]; then FETCH_ONLY=1; shift; fi

# ---- patches --------------------------------------------------------------------------
patches=()
if (($#)); then
  for n in "$@"; do
    n=${n%.patch}
    [[ -f $HERE/$n.patch ]] || die "no such patch: $HERE/$n.patch"
    patches+=("$HERE/$n.patch")
  done
else
  for p in "$HERE"/*.patch; do patches+=("$p"); done
fi
((${#patches[@]})) || die "no patches in $HERE"

header() { sed -n "s/^# $2: *//p" "$1" | head -1; }   # header <patch> <Key>
filters=()
targets=()
series=()
for p in "${patches[@]}"; do
  # "# Tree: debian-source:SERIES": the Debian linux-source series the patch is written against
  # (its private tree: tree_dir). Default 6.12.
  tr=$(header "$p" Tree)
  tr=${tr:-debian-source:$DEFAULT_SERIES}
  [[ $tr =~ ^debian-source:([0-9]+\.[0-9]+)$ ]] || die "$p: '# Tree: $tr' is not debian-source:MAJOR.MINOR"
  series+=("${BASH_REMATCH[1]}")
  f=$(header "$p" Filter)
  [[ -n $f ]] || die "$p has no '# Filter:' line"
  filters+=("$f")
  t=$(header "$p" Target)
  t=${t:-$DEFAULT_TARGET}
  [[ $t =~ ^[a-z0-9-]+/[a-z0-9-]+$ ]] || die "$p: '# Target: $t' is not TOPOLOGY/IOMMU"
  # "# Qemu: SPEC" (vfio-conform run --qemu): the QEMU the target needs (e.g. igb: 8.0+); part
  # of the target, written TOPOLOGY/IOMMU@SPEC.
  q=$(header "$p" Qemu)
  [[ -z $q || $q =~ ^[a-z]+:[A-Za-z0-9.+_/-]+$ ]] || die "$p: '# Qemu: $q' is not a QEMU spec"
  targets+=("$t${q:+@$q}")
done
# The baseline run of a series and target: "baseline" for the default ones (as before), else
# baseline[-SERIES]-TOPOLOGY-IOMMU[-QEMU] (the series named only when it is not the default).
base_step() {
  local s=$1 tg=$2
  [[ $s == "$DEFAULT_SERIES" && $tg == "$DEFAULT_TARGET" ]] && { echo baseline; return; }
  local b=${tg//\//-}; b=${b//@/-}; b=${b//:/-}
  [[ $s == "$DEFAULT_SERIES" ]] && echo "baseline-$b" || echo "baseline-$s-$b"
}

# ---- the private trees ----------------------------------------------------------------
# One per series: mutations/tree for 6.12 (the name it always had), mutations/tree-SERIES else.
tree_dir() { [[ $1 == 6.12 ]] && echo "$CACHE/mutations/tree" || echo "$CACHE/mutations/tree-$1"; }
# The pristine tree of a series: Debian's linux-source-SERIES as unpacked by `vfio-conform run
# --kernel debian-source:SERIES` (or MUTATIONS_SOURCE=<dir> for 6.12, MUTATIONS_SOURCE_7_2=<dir>
# for 7.2 and so on).
find_source() {
  local s=$1 var d
  var=MUTATIONS_SOURCE; [[ $s == 6.12 ]] || var=MUTATIONS_SOURCE_${s//./_}
  if [[ -n ${!var:-} ]]; then echo "${!var}"; return; fi
  d=$(ls -d "$CACHE"/kernels/debian-source/linux-source-"$s"_*/linux-source-"$s" 2>/dev/null | sort -V | tail -1)
  if [[ -z $d ]]; then
    # Let the harness download and unpack it (no build).
    log "no unpacked linux-source-$s in $CACHE; fetching it with the harness"
    # Its progress and errors go to stderr (the terminal, the CI log); stdout is the tree.
    d=$(cd "$ROOT" && npx tsx ci/mutations/fetch-source.ts "debian-source:$s" | tail -1) || die "fetching linux-source-$s failed (see above)"
  fi
  [[ -n $d && -f $d/Makefile ]] || die "Debian's linux-source-$s is not unpacked under $CACHE/kernels/debian-source; run \`node bin/vfio-conform.mjs run --kernel debian-source:$s\` first (or set $var=<clean $s tree>)"
  echo "$d"
}
mapfile -t all_series < <(printf '%s\n' "${series[@]}" | sort -uV)

if ((FETCH_ONLY)); then
  for s in "${all_series[@]}"; do find_source "$s" || exit 2; done
  exit 0
fi

t0=$(now)
for s in "${all_series[@]}"; do
  TREE=$(tree_dir "$s")
  git -C "$TREE" rev-parse -q --verify HEAD >/dev/null 2>&1 && continue
  src=$(find_source "$s") || exit 2
  log "creating the private tree $TREE from $src (cp -a, git init, add, commit: a minute or two)"
  rm -rf "$TREE.tmp"
  mkdir -p "$(dirname "$TREE")"
  cp -a "$src" "$TREE.tmp" || die "cp -a failed"
  # Debian's top-level .gitignore ignores everything ("/*"): add -f.
  (cd "$TREE.tmp" && git init -q && "${GIT[@]}" add -A -f && "${GIT[@]}" commit -q -m "pristine $(basename "$src")") ||
    die "git init/add/commit in $TREE.tmp failed"
  rm -rf "$TREE"
  mv "$TREE.tmp" "$TREE"
  # Its object directory starts as a copy of the conform build's of the same source (paths
  # rewritten: seed-obj.ts), so its first build recompiles nothing instead of everything.
  (cd "$ROOT" && npx tsx ci/mutations/seed-obj.ts "debian-source:$s" "$TREE") >&2 ||
    log "seeding the object directory of $TREE failed: its first build is a full one"
done
revert_tree() { git -C "$1" checkout -q -- . && git -C "$1" clean -fdqx; }
revert() { local s; for s in "${all_series[@]}"; do revert_tree "$(tree_dir "$s")" || return 1; done; }
revert || die "cannot reset the private trees"
trap 'revert' EXIT
setup_s=$(( $(now) - t0 ))
for s in "${all_series[@]}"; do
  TREE=$(tree_dir "$s")
  log "tree ready: $TREE ($(git -C "$TREE" rev-parse --short HEAD), ${setup_s}s)"
done

for i in "${!patches[@]}"; do
  p=${patches[$i]}; TREE=$(tree_dir "${series[$i]}")
  git -C "$TREE" apply --check "$p" || die "$(basename "$p") does not apply to $TREE"
done

# MUTATIONS_RESULTS=<dir>: keep the per-step results there (CI uploads it); else a temp dir.
if [[ -n ${MUTATIONS_RESULTS:-} ]]; then
  WORK=$(mkdir -p "$MUTATIONS_RESULTS" && cd "$MUTATIONS_RESULTS" && pwd) || die "cannot create $MUTATIONS_RESULTS"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfio-conform-mutations.XXXXXX")
fi
log "results under $WORK"

# run <step> <filter> <topology/iommu> <series>: run the matching tests on the series' tree as it is now.
run() {
  local step=$1 filter=$2 target=$3 tree
  tree=$(tree_dir "$4")
  local guest=${target%%@*} qemu=
  [[ $target == *@* ]] && qemu=${target#*@}
  log "$step: build + boot + run /$filter/ on $target (linux-source-$4)"
  (cd "$ROOT" && node bin/vfio-conform.mjs run --kernel "source:$tree" --topology "${guest%/*}" --iommu "${guest#*/}" \
    ${qemu:+--qemu "$qemu"} --filter "$filter" --results "$WORK/$step") >"$WORK/$step.log" 2>&1
  local rc=$?
  log "$step: vfio-conform exit $rc (log $WORK/$step.log)"
  return 0
}

# verdicts <step> <filter> <topology/iommu>: "VERDICT<TAB>test name[<TAB>reason]" for every test of
# the run matching filter.
verdicts() {
  node -e '
    const fs = require("fs")
    const [file, filter, target] = process.argv.slice(1)
    let d
    try { d = JSON.parse(fs.readFileSync(file, "utf8")) } catch { process.exit(0) }
    const re = new RegExp(filter)
    for (const v of d.verdicts ?? []) {
      const test = v.name.replace(/^[^>]*> /, "")
      const why = v.reason ? "\t" + String(v.reason).split("\n")[0].slice(0, 160) : ""
      if (v.name.includes(target) && re.test(v.name)) console.log(v.verdict + "\t" + test + why)
    }
    for (const e of d.runErrors ?? []) console.log("RUNERROR\t" + String(e).split("\n")[0])
  ' "$WORK/$1/verdicts.json" "$2" "$(name_mark "$3")"
}
# name_mark <target>: what a test name holds for a guest of the target: "/TOPOLOGY/IOMMU > " on the
# host's QEMU, "/TOPOLOGY/IOMMU@qemu-" (then the version) on another.
name_mark() { [[ $1 == *@* ]] && echo "/${1%%@*}@qemu-" || echo "/$1 > "; }

# claims <step>: "claim-id<TAB>VERDICT" per claim of the registry on the step's run (one
# kernel, one vIOMMU: one column), from `vfio-conform claims --json`.
claims() {
  (cd "$ROOT" && node bin/vfio-conform.mjs claims --results "$WORK/$1" --json 2>/dev/null) | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      let d; try { d = JSON.parse(s) } catch { process.exit(0) }
      for (const c of d.claims ?? []) console.log(c.id + "\t" + (c.cells[0]?.verdict ?? "NO-COLUMN"))
    })'
}
# claim_verdict <step> <claim-id>
claim_verdict() { claims "$1" | awk -F'\t' -v id="$2" '$1 == id { print $2 }'; }

# splats <step>: kernel splats in the guest console logs of the run.
splats() {
  grep -hoE '(WARNING: CPU: [0-9]+ PID: [0-9]+ at [^ ]+|BUG: [^\r]*|Oops[^\r]*|general protection fault[^\r]*|Kernel panic[^\r]*)' \
    "$WORK/$1"/*/*/*/console.log 2>/dev/null | sort | uniq -c | sed 's/^ *//' || true
}

# ---- baseline -------------------------------------------------------------------------
# One run per series and target ("SERIES TARGET"), of the union of its patches' filters.
t=$(now)
declare -A target_union
for i in "${!patches[@]}"; do
  k="${series[$i]} ${targets[$i]}"
  target_union[$k]=${target_union[$k]:+${target_union[$k]}|}${filters[$i]}
done
for k in "${!target_union[@]}"; do run "$(base_step $k)" "${target_union[$k]}" "${k#* }" "${k%% *}"; done
base_s=$(( $(now) - t ))
baseline_ok=1
declare -A base_verdict
for i in "${!patches[@]}"; do
  out=$(verdicts "$(base_step "${series[$i]}" "${targets[$i]}")" "${filters[$i]}" "${targets[$i]}")
  name=$(basename "${patches[$i]}" .patch)
  if [[ -z $out ]] || grep -qv '^PASS' <<<"$out"; then
    baseline_ok=0
    base_verdict[$name]="NOT-PASS: $(cut -f1 <<<"$out" | sort | uniq -c | xargs)"
  else
    base_verdict[$name]="PASS x$(wc -l <<<"$out")"
  fi
done
log "baseline: $([[ $baseline_ok = 1 ]] && echo PASS || echo 'NOT PASSING') (${base_s}s)"
for k in "${!target_union[@]}"; do
  step=$(base_step $k)
  verdicts "$step" "${target_union[$k]}" "${k#* }" | sed "s/^/  $step: /" >&2
  bs=$(splats "$step"); [[ -n $bs ]] && log "$step console splats: $bs"
  claims "$step" | sed "s/^/  $step claim: /" >&2
done
# A claim a patch names ("# Claims:") must not be refuted on the unpatched kernel.
for i in "${!patches[@]}"; do
  p=${patches[$i]}
  for c in $(header "$p" Claims); do
    v=$(claim_verdict "$(base_step "${series[$i]}" "${targets[$i]}")" "$c")
    if [[ -z $v || $v == REFUTED ]]; then baseline_ok=0; log "baseline: claim $c is ${v:-missing} on the unpatched kernel"; fi
  done
done

# ---- mutations ------------------------------------------------------------------------
declare -A res_verdicts res_result res_time res_splat res_claims
all_caught=1
for i in "${!patches[@]}"; do
  p=${patches[$i]}; name=$(basename "$p" .patch); filter=${filters[$i]}; tg=${targets[$i]}; sr=${series[$i]}
  t=$(now)
  revert
  if ! git -C "$(tree_dir "$sr")" apply "$p"; then
    res_result[$name]=APPLY-FAILED; res_verdicts[$name]=-; all_caught=0; continue
  fi
  run "$name" "$filter" "$tg" "$sr"
  revert
  res_time[$name]=$(( $(now) - t ))
  out=$(verdicts "$name" "$filter" "$tg")
  verdicts "$name" "$filter" "$tg" | sed "s/^/  $name: /" >&2
  res_verdicts[$name]=$(cut -f1 <<<"$out" | grep . | sort | uniq -c | awk '{printf "%s%s x%s", (NR>1?", ":""), $2, $1}')
  [[ -n ${res_verdicts[$name]} ]] || res_verdicts[$name]="no verdicts"
  if [[ -n $out ]] && ! grep -qv '^FAIL' <<<"$out"; then res_result[$name]=OK; else res_result[$name]=NOT-CAUGHT; all_caught=0; fi
  # The review-thread claims the patch breaks ("# Claims:") must read REFUTED on the mutant,
  # decided by the same run's verdicts (vfio-conform claims), next to their baseline verdict.
  res_claims[$name]=-
  cl=$(header "$p" Claims)
  if [[ -n $cl ]]; then
    res_claims[$name]=
    for c in $cl; do
      v=$(claim_verdict "$name" "$c"); b=$(claim_verdict "$(base_step "$sr" "$tg")" "$c")
      res_claims[$name]+="${res_claims[$name]:+, }$c ${b:-?}->${v:-?}"
      if [[ $v != REFUTED ]]; then res_result[$name]=CLAIM-NOT-FLIPPED; all_caught=0; fi
    done
  fi
  s=$(splats "$name"); res_splat[$name]=$([[ -n $s ]] && echo "splat: $(head -3 <<<"$s" | paste -sd';' -)" || echo "-")
  log "$name: ${res_result[$name]} (${res_verdicts[$name]}, ${res_time[$name]}s) ${res_splat[$name]}; claims: ${res_claims[$name]}"
done

# ---- table ----------------------------------------------------------------------------
echo
echo "Mutation check on $(for s in "${all_series[@]}"; do printf 'source:%s ' "$(tree_dir "$s")"; done)each patch on its tree (default linux-source-$DEFAULT_SERIES) and target (default $DEFAULT_TARGET) (results: $WORK)"
echo "setup ${setup_s}s; baseline ${base_s}s: $([[ $baseline_ok = 1 ]] && echo PASS || echo NOT-PASSING)"
echo
printf '%-22s | %-64s | %-44s | %-12s | %-12s | %-10s | %5s | %s\n' patch rule tests baseline mutant result time console
printf '%s\n' "$(printf -- '-%.0s' {1..220})"
for i in "${!patches[@]}"; do
  p=${patches[$i]}; name=$(basename "$p" .patch)
  rule=$(header "$p" Rule | cut -c1-64)
  printf '%-22s | %-64s | %-44s | %-12s | %-12s | %-10s | %4ss | %s\n' \
    "$name" "$rule" "/$(cut -c1-42 <<<"${filters[$i]}")/" "${base_verdict[$name]}" "${res_verdicts[$name]:-}" \
    "${res_result[$name]:-}" "${res_time[$name]:-0}" "${res_splat[$name]:-}"
done
echo
echo "Review-thread claims each patch must flip to REFUTED (suites/claims/registry.ts; baseline->mutant):"
for i in "${!patches[@]}"; do
  name=$(basename "${patches[$i]}" .patch)
  printf '  %-22s %s\n' "$name" "${res_claims[$name]:--}"
done
echo
if [[ $baseline_ok = 1 && $all_caught = 1 ]]; then
  echo "RESULT: baseline passed and all ${#patches[@]} mutations were caught"
  exit 0
fi
echo "RESULT: FAILED ($([[ $baseline_ok = 1 ]] || echo 'baseline did not pass; ')$([[ $all_caught = 1 ]] || echo 'some mutation was not caught'))"
exit 1
