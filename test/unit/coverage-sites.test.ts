// Error-return sites (harness/coverage/sites.ts) on excerpts of Linux 6.12.118
// (Debian's linux-source-6.12), quoted as they are in the tree.
import { describe, expect, it } from 'vitest'
import { blankNonCode, tokenize } from '../../harness/coverage/c-tokens.js'
import { cFunctions, errorSites } from '../../harness/coverage/sites.js'
import { UNSET_CONTAINER } from './kernel-excerpts.js'


// drivers/vfio/container.c
const NOIOMMU = `static struct vfio {
	struct list_head		iommu_drivers_list;
	struct mutex			iommu_drivers_lock;
} vfio;

static void *vfio_noiommu_open(unsigned long arg)
{
	if (arg != VFIO_NOIOMMU_IOMMU)
		return ERR_PTR(-EINVAL);
	if (!capable(CAP_SYS_RAWIO))
		return ERR_PTR(-EPERM);

	return NULL;
}

static void vfio_noiommu_release(void *iommu_data)
{
}

static long vfio_noiommu_ioctl(void *iommu_data,
			       unsigned int cmd, unsigned long arg)
{
	if (cmd == VFIO_CHECK_EXTENSION)
		return vfio_noiommu && (arg == VFIO_NOIOMMU_IOMMU) ? 1 : 0;

	return -ENOTTY;
}
`

// drivers/vfio/iommufd.c
const GET_DEV_ID = `int vfio_iommufd_get_dev_id(struct vfio_device *vdev, struct iommufd_ctx *ictx)
{
	struct iommu_group *group;
	int devid;

	if (vfio_iommufd_device_ictx(vdev) == ictx)
		return vfio_iommufd_device_id(vdev);

	group = iommu_group_get(vdev->dev);
	if (!group)
		return -ENODEV;

	if (iommufd_ctx_has_group(ictx, group))
		devid = -ENOENT;
	else
		devid = -ENODEV;

	iommu_group_put(group);

	return devid;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_get_dev_id);
`

// drivers/vfio/vfio_iommu_type1.c (vfio_iommu_type1_attach_group, its start)
const ATTACH_GROUP = `static int vfio_iommu_type1_attach_group(void *iommu_data,
		struct iommu_group *iommu_group, enum vfio_group_type type)
{
	struct vfio_iommu *iommu = iommu_data;
	struct vfio_iommu_group *group;
	int ret = -EBUSY;

	mutex_lock(&iommu->lock);

	/* Attach could require pinning, so disallow while vaddr is invalid. */
	if (iommu->vaddr_invalid_count)
		goto out_unlock;

	/* Check for duplicates */
	ret = -EINVAL;
	if (vfio_iommu_find_iommu_group(iommu, iommu_group))
		goto out_unlock;

	ret = -ENOMEM;
	group = kzalloc(sizeof(*group), GFP_KERNEL);
	if (!group)
		goto out_unlock;
	group->iommu_group = iommu_group;
	ret = 0;
out_unlock:
	mutex_unlock(&iommu->lock);
	return ret;
}
`

// drivers/vfio/group.c (vfio_group_fops_unl_ioctl)
const SWITCH = `static long vfio_group_fops_unl_ioctl(struct file *filep,
				      unsigned int cmd, unsigned long arg)
{
	struct vfio_group *group = filep->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_GROUP_GET_DEVICE_FD:
		return vfio_group_ioctl_get_device_fd(group, uarg);
	case VFIO_GROUP_UNSET_CONTAINER:
		return vfio_group_ioctl_unset_container(group);
	default:
		return -ENOTTY;
	}
}
`

// drivers/iommu/iommufd/hw_pagetable.c (the start of iommufd_hwpt_set_dirty_tracking), and
// a comparison and a macro that are no sites.
const INIT_RETURNED = `int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;
	int rc = -EOPNOTSUPP;
	bool enable;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return rc;
	/* -EPERM in a comment */
	if (rc == -EINVAL)
		pr_warn("-EFAULT in a string");
	return 0;
}
#define CHECK(x) \\
	do { if (!(x)) return -EIO; } while (0)
`

// drivers/iommu/iommufd/device.c (iommufd_access_rw, its start): a declaration's errno that
// no check returns (the first checks return their own).
const INIT_UNUSED = `int iommufd_access_rw(struct iommufd_access *access, unsigned long iova,
		      void *data, size_t length, unsigned int flags)
{
	struct iopt_area *area;
	unsigned long last_iova;
	int rc = -EINVAL;

	if (!length)
		return -EINVAL;
	if (check_add_overflow(iova, length - 1, &last_iova))
		return -EOVERFLOW;
	return rc;
}
`

// drivers/vfio/group.c (vfio_group_find_or_alloc): a loop-like guard and a WARN_ON condition.
const LOOP_MACRO = `static int vfio_find(struct vfio_device *device)
{
	struct vfio_device *it;

	list_for_each_entry(it, &group->device_list, group_next) {
		if (it == device)
			return -EEXIST;
	}
	scoped_guard(mutex, &group->lock)
		if (WARN_ON(vfio_group_has_device(group, dev)))
			return -EINVAL;
	return 0;
}
`

const at = (text: string, line: number) => text.split('\n')[line - 1]!

describe('C tokens', () => {
  it('blanks comments, literals and directives, keeping offsets and lines', () => {
    const src = 'a /* x\ny */ "s;t" \'c\'\n#define X \\\n  1\nb // z\n'
    const b = blankNonCode(src)
    expect(b.length).toBe(src.length)
    expect(b.split('\n').length).toBe(src.split('\n').length)
    expect(tokenize(src).map((t) => [t.t.replace(/\s/g, ''), t.line])).toEqual([['a', 1], ['""', 2], ["''", 2], ['b', 5]])
  })
})

describe('error-return sites', () => {
  it('finds ret = -E...; goto sites in if bodies, with the condition as the guard', () => {
    const sites = errorSites(UNSET_CONTAINER, 'drivers/vfio/group.c')
    expect(sites.map((s) => [s.id, s.line, s.kind, s.guard?.kind, s.guard?.text])).toEqual([
      ['drivers/vfio/group.c:vfio_group_ioctl_unset_container:EINVAL#1', 13, 'assign', 'if', '!vfio_group_has_iommu(group)'],
      ['drivers/vfio/group.c:vfio_group_ioctl_unset_container:EBUSY#1', 18, 'assign', 'if', 'group->container_users != 1'],
    ])
    const busy = sites[1]!
    expect(at(UNSET_CONTAINER, busy.guard!.cond.startLine)).toContain('if (group->container_users != 1) {')
    expect(UNSET_CONTAINER.slice(busy.guard!.cond.start, busy.guard!.cond.end)).toBe('group->container_users != 1')
    expect(UNSET_CONTAINER.slice(busy.guard!.stmt.start, busy.guard!.stmt.end)).toMatch(/^if \(group->container_users != 1\) \{[^]*goto out_unlock;\n\t\t\}$/)
    expect(UNSET_CONTAINER.slice(busy.statement.start, busy.statement.end)).toBe('ret = -EBUSY;')
    expect(busy.function).toBe('vfio_group_ioctl_unset_container')
  })

  it('finds return ERR_PTR(-E...) sites; a bare return in a function without a check has no guard', () => {
    const sites = errorSites(NOIOMMU, 'drivers/vfio/container.c')
    expect(sites.map((s) => [s.function, s.errno, s.line, s.kind, s.guard?.text])).toEqual([
      ['vfio_noiommu_open', 'EINVAL', 9, 'return', 'arg != VFIO_NOIOMMU_IOMMU'],
      ['vfio_noiommu_open', 'EPERM', 11, 'return', '!capable(CAP_SYS_RAWIO)'],
      ['vfio_noiommu_ioctl', 'ENOTTY', 26, 'return', undefined],
    ])
    expect(cFunctions(NOIOMMU).map((f) => [f.name, f.range.startLine, f.range.endLine])).toEqual([
      ['vfio_noiommu_open', 6, 14],
      ['vfio_noiommu_release', 16, 18],
      ['vfio_noiommu_ioctl', 20, 27],
    ])
  })

  it('tells the then and else branches of one check apart', () => {
    const sites = errorSites(GET_DEV_ID, 'drivers/vfio/iommufd.c')
    expect(sites.map((s) => [s.id, s.guard?.branch, s.guard?.text])).toEqual([
      ['drivers/vfio/iommufd.c:vfio_iommufd_get_dev_id:ENODEV#1', 'then', '!group'],
      ['drivers/vfio/iommufd.c:vfio_iommufd_get_dev_id:ENOENT#1', 'then', 'iommufd_ctx_has_group(ictx, group)'],
      ['drivers/vfio/iommufd.c:vfio_iommufd_get_dev_id:ENODEV#2', 'else', 'iommufd_ctx_has_group(ictx, group)'],
    ])
  })

  it('guards an errno stored before the check that jumps with it', () => {
    const sites = errorSites(ATTACH_GROUP, 'drivers/vfio/vfio_iommu_type1.c')
    expect(sites.map((s) => [s.errno, s.kind, s.guard?.kind, s.guard?.text, s.guard?.cond.startLine])).toEqual([
      ['EBUSY', 'init', 'after', 'iommu->vaddr_invalid_count', 11],
      ['EINVAL', 'assign', 'after', 'vfio_iommu_find_iommu_group(iommu, iommu_group)', 16],
      ['ENOMEM', 'assign', 'after', '!group', 21],
    ])
  })

  it('a switch default is a site without a guard', () => {
    expect(errorSites(SWITCH, 'drivers/vfio/group.c').map((s) => [s.errno, s.line, s.guard])).toEqual([['ENOTTY', 13, undefined]])
  })

  it('skips comparisons, comments, strings and macros; a declaration only when a check returns it', () => {
    expect(errorSites(INIT_RETURNED, 'x.c').map((s) => [s.errno, s.kind, s.line, s.guard?.text])).toEqual([
      ['EOPNOTSUPP', 'init', 4, 'cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE'],
    ])
    expect(errorSites(INIT_UNUSED, 'x.c').map((s) => [s.errno, s.kind])).toEqual([
      ['EINVAL', 'return'],
      ['EOVERFLOW', 'return'],
    ])
  })

  it('sees through loop and scope macros', () => {
    expect(errorSites(LOOP_MACRO, 'x.c').map((s) => [s.errno, s.guard?.text])).toEqual([
      ['EEXIST', 'it == device'],
      ['EINVAL', 'WARN_ON(vfio_group_has_device(group, dev))'],
    ])
  })
})
