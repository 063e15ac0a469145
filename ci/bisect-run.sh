#!/usr/bin/env bash
# git bisect run wrapper: run inside a kernel tree that you build yourself per step.
#   git bisect run /path/to/vfio-conform/ci/bisect-run.sh [--filter PATTERN]
# Builds nothing: it boots arch/x86/boot/bzImage of the current tree with the modules that
# `make modules_install INSTALL_MOD_PATH=$VFIO_CONFORM_MODS` put there, and maps the result
# to git bisect's contract: 0 good, 1 bad, 125 skip (boot failure, harness ERROR, bad usage).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tree=$(pwd)
mods=${VFIO_CONFORM_MODS:-$tree/.vfio-conform-mods}
spec="path:$tree/arch/x86/boot/bzImage,config=$tree/.config"
[ -d "$mods/lib/modules" ] && spec="$spec,modules=$mods"
node "$here/bin/vfio-conform.mjs" run --kernel "$spec" "$@"
rc=$?
case $rc in
  0|1|125) exit $rc ;;
  *) exit 125 ;;   # usage errors and anything else: this commit cannot be judged
esac
