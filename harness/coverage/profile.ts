// What the coverage variant of the conform build profiles, and how: gcov for the VFIO and
// iommufd directories and the IOMMU core's ownership code, nothing else. Kbuild decides per
// object with GCOV_PROFILE_<obj>.o, GCOV_PROFILE (per directory, set in its Makefile) and
// CONFIG_GCOV_PROFILE_ALL (scripts/Makefile.lib). The user's tree is never edited, so the
// build passes GCOV_PROFILE on make's command line as a recursively expanded variable that
// Kbuild evaluates for each object with that object's $(obj) (its directory) and $@: "y" for
// the profiled directories and files, empty elsewhere (no profiling: PROFILE_ALL is off).
// A command-line variable reaches every sub-make (MAKEFLAGS) and overrides the Makefiles'
// own `GCOV_PROFILE := n`, which only exists in directories left out here anyway.
import path from 'node:path'

/** Directories whose every object is profiled (relative to the kernel tree). */
export const PROFILED_DIRS = ['drivers/vfio', 'drivers/vfio/pci', 'drivers/vfio/mdev', 'drivers/iommu/iommufd']
/** Single files profiled in directories that are not (the IOMMU core: groups, ownership, DMA ownership claims). */
export const PROFILED_FILES = ['drivers/iommu/iommu.c']

/** The make variable that turns profiling on for exactly those objects. */
export function gcovMakeVar(dirs = PROFILED_DIRS, files = PROFILED_FILES): string {
  const objs = files.map((f) => f.replace(/\.c$/, '.o'))
  return `GCOV_PROFILE=$(if $(filter ${dirs.join(' ')},$(obj))$(filter ${objs.join(' ')},$@),y)`
}

/** Is a source file (relative to the tree) one the variant profiles? */
export function isProfiled(rel: string, dirs = PROFILED_DIRS, files = PROFILED_FILES): boolean {
  return files.includes(rel) || (rel.endsWith('.c') && dirs.includes(path.posix.dirname(rel)))
}

/** gcov matching the compiler: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0" -> "gcov-12". */
export function gcovToolFor(compiler: string): string {
  const m = /\b(\d+)\.\d+\.\d+\s*$/.exec(compiler.trim()) ?? /\b(\d+)\.\d+(\.\d+)?/.exec(compiler)
  return m ? `gcov-${m[1]}` : 'gcov'
}

/** What a gcov build records beside the kernel (the cache entry's gcov/gcov.json). */
export interface GcovBuildInfo {
  /** The entry's gcov/ directory: the .gcno notes files, at their paths relative to the tree ("drivers/vfio/group.gcno"). */
  dir: string
  /** The build's object directory: the guest's debugfs names each .gcda by its path there. */
  objDir: string
  /** The source tree the kernel was built from. */
  tree: string
  /** "gcov-12": the gcov of the compiler that built the kernel. */
  gcov: string
  /** Notes files, relative to the tree, without extension ("drivers/vfio/group"). */
  objects: string[]
}
