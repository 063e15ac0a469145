/* vfio-conform guest agent: makes syscalls in the guest on behalf of a test, so that the
 * test sees the kernel's exact return value and errno, and so that file descriptors live
 * as long as the test wants (process A holds a group fd while process B tries).
 *
 * Started over SSH as an exec channel; stdin/stdout are the channel. Static, libc only.
 * Options (ident.c): --gid N, --uid N, --drop-caps, --keep-caps a,b|none; a bad one exits 2,
 * a failure applying them exits 3, both with the reason on stderr and no hello line.
 *
 * Protocol: JSON lines.
 *   - On start-up (after the identity change, see ident.c) one hello line:
 *       {"ready":true,"pid":N,"uid":N,"gid":N,"euid":N,"egid":N,"groups":[N..],
 *        "caps":"cap_a,cap_b"|"none","cap_eff":"0x..","cap_prm":..,"cap_inh":..,
 *        "cap_bnd":..,"cap_amb":..,"no_new_privs":0|1,"max_buf":16777216}
 *   - Then every request line gets exactly one response line, in order:
 *       request  {"id":7,"op":"open","path":"/dev/vfio/1","flags":"O_RDWR|O_CLOEXEC"}
 *       response {"id":7,"ret":3}
 *                {"id":7,"ret":-1,"errno":"EBUSY","errnum":16}
 *                {"id":7,"error":"unknown op \"opne\""}     (bad request, nothing was called)
 *     "id" is an unsigned integer chosen by the client and echoed; an unparseable line is
 *     answered with the id if the line starts with {"id":<digits>, else "id":null.
 *   - Field encodings: strings are JSON strings; integers are JSON numbers or, for 64-bit
 *     values a JavaScript number cannot carry exactly (ioctl request, addresses, offsets),
 *     strings of a decimal or 0x-hex integer ("0x70000000000"; "-1" is allowed); bytes are
 *     lower- or upper-case hex strings. Responses: "ret" is the raw return value as a
 *     signed decimal (for mmap/mem_alloc the address is also given exactly as "addr":"0x.."),
 *     bytes are lowercase hex in "data".
 *   - Ops and their fields (F = fd, all lengths <= 16 MiB):
 *       open path flags[,mode]   flags: "O_RDWR|O_CLOEXEC" or an integer; mode default 0600
 *       close fd
 *       ioctl fd req [buf|val]   buf: hex bytes, copied into a zeroed page-aligned buffer of at
 *                                least one page whose address is passed; "data" is the buffer
 *                                (same length) after the call. val: passed by value. Neither: 0.
 *       read fd len / pread fd len off                "data": the bytes read
 *       write fd data / pwrite fd data off
 *       write_file path data     open(O_WRONLY), one write(), close; on failure "step" says
 *                                which ("open"|"write"|"close"); ret is that step's result
 *       readlink path            "data": the target's bytes
 *       mem_alloc len            anonymous RW mmap; "addr"
 *       mmap fd len off [prot]   MAP_SHARED mapping of fd; prot "PROT_READ|PROT_WRITE" (default)
 *       munmap addr len
 *       mem_read addr len / mem_write addr data
 *                                copies with volatile accesses as wide as alignment allows (MMIO);
 *                                a fault is caught: ret -1, EFAULT, "signal":"SIGSEGV"|"SIGBUS"
 *       pci_scan                 one line per /sys/bus/pci/devices entry, as the harness's
 *                                shell scan prints them: "<realpath> <vendor> <device>
 *                                <driver>- <group>-" (driver/group: the link's last
 *                                component, empty when absent); "data": the lines as hex;
 *                                ret: the number of devices. One request instead of a
 *                                shell loop that forks five programs per device.
 *       eventfd                  eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC): ret is the fd; a read
 *                                of 8 bytes gives the counter, or EAGAIN while nothing was
 *                                signalled (VFIO's request and error eventfds)
 *       getpid                   ret: the pid
 *       caps_effective caps      the effective capability set becomes exactly "caps"
 *                                ("cap_a,cap_b" or "none"; permitted stays): ret 0, or -1
 *                                with capset's errno (EPERM: not in the permitted set)
 *       exit                     answers, then exits 0
 *   - EOF on stdin: exit 0. Responses are written with write(2), never buffered.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#define TRY(x)                                  \
	do {                                    \
		const char *e_ = (x);           \
		if (e_)                         \
			return e_;              \
	} while (0)

/* ---- syscall results ---- */

static void put_ret(struct out *r, long long ret, int err)
{
	char tmp[24];
	out_fmt(r, ",\"ret\":%lld", ret);
	if (ret < 0)
		out_fmt(r, ",\"errno\":\"%s\",\"errnum\":%d", errno_name(err, tmp, sizeof tmp), err);
}

/* Page-aligned, zeroed buffers from mmap: an ioctl argument shorter than the structure the
 * kernel reads sees zeros after it rather than a fault, and memory is returned at once. */
static void *buf_alloc(size_t len, size_t *maplen)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	*maplen = len ? (len + page - 1) / page * page : page;
	p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static const char *get_fd(const struct jobj *o, int *fd)
{
	int64_t v;
	TRY(jget_i64(o, "fd", INT32_MIN, INT32_MAX, &v));
	*fd = (int)v;
	return NULL;
}

static const char *get_len(const struct jobj *o, size_t *len)
{
	int64_t v;
	if (jget_i64(o, "len", 0, INT64_MAX, &v) == NULL && v > AGENT_MAX_BUF)
		return "len is larger than the agent's 16 MiB buffer limit";
	TRY(jget_i64(o, "len", 0, AGENT_MAX_BUF, &v));
	*len = (size_t)v;
	return NULL;
}

/* "A|B|C" of names looked up by fn, or a plain integer. */
static const char *get_flags(const struct jobj *o, const char *key, int (*fn)(const char *, size_t, int *), int *out)
{
	const struct jfield *f = jfind(o, key);
	static char err[160];
	int64_t v;
	if (f && f->type == J_STRING && f->str[0] >= 'A' && f->str[0] <= 'Z') {
		const char *p = f->str;
		*out = 0;
		for (;;) {
			size_t n = strcspn(p, "|");
			int flag;
			if (fn(p, n, &flag)) {
				snprintf(err, sizeof err, "field \"%s\": unknown flag '%.*s'", key, (int)(n > 40 ? 40 : n), p);
				return err;
			}
			*out |= flag;
			if (!p[n])
				return NULL;
			p += n + 1;
		}
	}
	TRY(jget_i64(o, key, INT32_MIN, UINT32_MAX, &v));
	*out = (int)v;
	return NULL;
}

static int prot_from_name(const char *name, size_t len, int *flag)
{
	static const struct {
		const char *name;
		int flag;
	} prots[] = { { "PROT_NONE", PROT_NONE }, { "PROT_READ", PROT_READ }, { "PROT_WRITE", PROT_WRITE }, { "PROT_EXEC", PROT_EXEC } };
	for (size_t i = 0; i < sizeof prots / sizeof prots[0]; i++)
		if (strlen(prots[i].name) == len && !memcmp(prots[i].name, name, len)) {
			*flag = prots[i].flag;
			return 0;
		}
	return -1;
}

/* ---- ops ---- */

static const char *op_open(const struct jobj *o, struct out *r)
{
	const char *path;
	int flags, fd;
	int64_t mode = 0600;
	TRY(jget_str(o, "path", &path));
	TRY(get_flags(o, "flags", open_flag_from_name, &flags));
	if (jfind(o, "mode"))
		TRY(jget_i64(o, "mode", 0, 07777, &mode));
	fd = open(path, flags, (mode_t)mode);
	put_ret(r, fd, errno);
	return NULL;
}

static const char *op_close(const struct jobj *o, struct out *r)
{
	int fd, ret;
	TRY(get_fd(o, &fd));
	ret = close(fd);
	put_ret(r, ret, errno);
	return NULL;
}

static const char *op_ioctl(const struct jobj *o, struct out *r)
{
	int fd, ret;
	uint64_t req, val = 0;
	bool has_buf = jfind(o, "buf") != NULL;
	unsigned char *in;
	size_t n = 0, maplen;
	void *buf;

	TRY(get_fd(o, &fd));
	TRY(jget_u64(o, "req", &req));
	if (has_buf && jfind(o, "val"))
		return "ioctl takes either buf or val, not both";
	if (!has_buf) {
		if (jfind(o, "val"))
			TRY(jget_u64(o, "val", &val));
		/* The request number is an unsigned long; the kernel takes only its low 32 bits. */
		ret = ioctl(fd, (unsigned long)req, (unsigned long)val);
		put_ret(r, ret, errno);
		return NULL;
	}
	TRY(jget_hex(o, "buf", &in, &n));
	if (!(buf = buf_alloc(n, &maplen)))
		return "cannot allocate the ioctl buffer";
	memcpy(buf, in, n);
	ret = ioctl(fd, (unsigned long)req, buf);
	put_ret(r, ret, errno);
	out_raw(r, ",\"data\":", 8);
	out_hex(r, buf, n);
	munmap(buf, maplen);
	return NULL;
}

/* read and pread: off < 0 means read(). */
static const char *do_read(const struct jobj *o, struct out *r, bool positioned)
{
	int fd;
	size_t len, maplen;
	int64_t off = 0;
	ssize_t n;
	void *buf;
	TRY(get_fd(o, &fd));
	TRY(get_len(o, &len));
	if (positioned)
		TRY(jget_i64(o, "off", INT64_MIN, INT64_MAX, &off));
	if (!(buf = buf_alloc(len, &maplen)))
		return "cannot allocate the read buffer";
	n = positioned ? pread(fd, buf, len, (off_t)off) : read(fd, buf, len);
	put_ret(r, n, errno);
	if (n >= 0) {
		out_raw(r, ",\"data\":", 8);
		out_hex(r, buf, (size_t)n);
	}
	munmap(buf, maplen);
	return NULL;
}

static const char *op_read(const struct jobj *o, struct out *r) { return do_read(o, r, false); }
static const char *op_pread(const struct jobj *o, struct out *r) { return do_read(o, r, true); }

static const char *do_write(const struct jobj *o, struct out *r, bool positioned)
{
	int fd;
	unsigned char *data;
	size_t n;
	int64_t off = 0;
	ssize_t w;
	TRY(get_fd(o, &fd));
	TRY(jget_hex(o, "data", &data, &n));
	if (positioned)
		TRY(jget_i64(o, "off", INT64_MIN, INT64_MAX, &off));
	w = positioned ? pwrite(fd, data, n, (off_t)off) : write(fd, data, n);
	put_ret(r, w, errno);
	return NULL;
}

static const char *op_write(const struct jobj *o, struct out *r) { return do_write(o, r, false); }
static const char *op_pwrite(const struct jobj *o, struct out *r) { return do_write(o, r, true); }

/* For sysfs attributes (bind, unbind, driver_override, ...): the attribute's store() runs
 * in write(), so its errno is the one that matters; one write() as echo(1) would do. */
static const char *op_write_file(const struct jobj *o, struct out *r)
{
	const char *path;
	unsigned char *data;
	size_t n;
	ssize_t w;
	int fd;
	TRY(jget_str(o, "path", &path));
	TRY(jget_hex(o, "data", &data, &n));
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		put_ret(r, fd, errno);
		out_raw(r, ",\"step\":\"open\"", 14);
		return NULL;
	}
	if ((w = write(fd, data, n)) < 0) {
		int e = errno;
		close(fd);
		put_ret(r, w, e);
		out_raw(r, ",\"step\":\"write\"", 15);
		return NULL;
	}
	if (close(fd)) {
		put_ret(r, -1, errno);
		out_raw(r, ",\"step\":\"close\"", 15);
		return NULL;
	}
	put_ret(r, w, 0);
	return NULL;
}

static const char *op_readlink(const struct jobj *o, struct out *r)
{
	const char *path;
	char target[4096];
	ssize_t n;
	TRY(jget_str(o, "path", &path));
	n = readlink(path, target, sizeof target);
	put_ret(r, n, errno);
	if (n >= 0) {
		out_raw(r, ",\"data\":", 8);
		out_hex(r, target, (size_t)n);
	}
	return NULL;
}

static void put_mmap(struct out *r, void *p, int err)
{
	if (p == MAP_FAILED) {
		put_ret(r, -1, err);
		return;
	}
	put_ret(r, (long long)(uintptr_t)p, 0);
	out_fmt(r, ",\"addr\":\"0x%llx\"", (unsigned long long)(uintptr_t)p);
}

static const char *op_mem_alloc(const struct jobj *o, struct out *r)
{
	size_t len;
	void *p;
	TRY(get_len(o, &len));
	if (!len)
		return "mem_alloc needs len > 0";
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	put_mmap(r, p, errno);
	return NULL;
}

static const char *op_mmap(const struct jobj *o, struct out *r)
{
	int fd, prot = PROT_READ | PROT_WRITE;
	size_t len;
	int64_t off;
	void *p;
	TRY(get_fd(o, &fd));
	TRY(get_len(o, &len));
	TRY(jget_i64(o, "off", INT64_MIN, INT64_MAX, &off));
	if (jfind(o, "prot"))
		TRY(get_flags(o, "prot", prot_from_name, &prot));
	p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);
	put_mmap(r, p, errno);
	return NULL;
}

static const char *op_munmap(const struct jobj *o, struct out *r)
{
	uint64_t addr;
	int64_t len;
	int ret;
	TRY(jget_u64(o, "addr", &addr));
	TRY(jget_i64(o, "len", 0, INT64_MAX, &len));
	ret = munmap((void *)(uintptr_t)addr, (size_t)len);
	put_ret(r, ret, errno);
	return NULL;
}

/* mem_read/mem_write touch addresses the client names, possibly a device's BAR mapping: a
 * bad one must be an answer (EFAULT), not the agent dying with SIGSEGV or SIGBUS. */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed, fault_sig;

static void on_fault(int sig)
{
	if (!fault_armed) {
		/* A bug in the agent itself: crash as usual (the faulting access repeats). */
		signal(sig, SIG_DFL);
		return;
	}
	fault_sig = sig;
	siglongjmp(fault_jmp, 1);
}

/* Volatile accesses of the widest size that the alignment of both sides and the length
 * allow: device registers often must be read with 4-byte loads, and the compiler must not
 * turn the loop into memcpy. */
static void copy_io(void *dst, const void *src, size_t n)
{
	uintptr_t a = (uintptr_t)dst | (uintptr_t)src | n;
	if (!(a & 7))
		for (size_t i = 0; i < n / 8; i++)
			((volatile uint64_t *)dst)[i] = ((const volatile uint64_t *)src)[i];
	else if (!(a & 3))
		for (size_t i = 0; i < n / 4; i++)
			((volatile uint32_t *)dst)[i] = ((const volatile uint32_t *)src)[i];
	else if (!(a & 1))
		for (size_t i = 0; i < n / 2; i++)
			((volatile uint16_t *)dst)[i] = ((const volatile uint16_t *)src)[i];
	else
		for (size_t i = 0; i < n; i++)
			((volatile uint8_t *)dst)[i] = ((const volatile uint8_t *)src)[i];
}

/* Returns 0, or the signal that interrupted the copy. */
static int guarded_copy(void *dst, const void *src, size_t n)
{
	if (sigsetjmp(fault_jmp, 1)) {
		fault_armed = 0;
		return fault_sig;
	}
	fault_armed = 1;
	copy_io(dst, src, n);
	fault_armed = 0;
	return 0;
}

static void put_fault(struct out *r, int sig)
{
	put_ret(r, -1, EFAULT);
	out_fmt(r, ",\"signal\":\"%s\"", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
}

static const char *op_mem_read(const struct jobj *o, struct out *r)
{
	uint64_t addr;
	size_t len, maplen;
	void *buf;
	int sig;
	TRY(jget_u64(o, "addr", &addr));
	TRY(get_len(o, &len));
	if (!(buf = buf_alloc(len, &maplen)))
		return "cannot allocate the read buffer";
	if ((sig = guarded_copy(buf, (const void *)(uintptr_t)addr, len))) {
		put_fault(r, sig);
	} else {
		put_ret(r, (long long)len, 0);
		out_raw(r, ",\"data\":", 8);
		out_hex(r, buf, len);
	}
	munmap(buf, maplen);
	return NULL;
}

static const char *op_mem_write(const struct jobj *o, struct out *r)
{
	uint64_t addr;
	unsigned char *data;
	size_t n, maplen;
	void *buf;
	int sig;
	TRY(jget_u64(o, "addr", &addr));
	TRY(jget_hex(o, "data", &data, &n));
	/* Through an aligned buffer, so the copy's width depends on addr and n only. */
	if (!(buf = buf_alloc(n, &maplen)))
		return "cannot allocate the write buffer";
	memcpy(buf, data, n);
	if ((sig = guarded_copy((void *)(uintptr_t)addr, buf, n)))
		put_fault(r, sig);
	else
		put_ret(r, (long long)n, 0);
	munmap(buf, maplen);
	return NULL;
}

/* The last path component of a symlink's target, or "" when there is no link. */
static void link_base(const char *path, char *out, size_t outlen)
{
	char t[PATH_MAX];
	ssize_t n = readlink(path, t, sizeof t - 1);
	const char *b;
	out[0] = '\0';
	if (n < 0)
		return;
	t[n] = '\0';
	b = strrchr(t, '/');
	b = b ? b + 1 : t;
	n = (ssize_t)strlen(b);
	if ((size_t)n >= outlen)
		n = (ssize_t)outlen - 1;
	memcpy(out, b, (size_t)n);
	out[n] = '\0';
}

/* The first word of a small sysfs attribute ("0x1234"), or "?" when it cannot be read. */
static void attr_word(const char *path, char *out, size_t outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, out, outlen - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		snprintf(out, outlen, "?");
		return;
	}
	out[n] = '\0';
	out[strcspn(out, " \n")] = '\0';
}

static const char *op_pci_scan(const struct jobj *o, struct out *r)
{
	static const char *base = "/sys/bus/pci/devices";
	struct out lines = { 0 };
	struct dirent *de;
	long long count = 0;
	DIR *d = opendir(base);
	(void)o;
	if (!d) {
		put_ret(r, -1, errno);
		return NULL;
	}
	while ((de = readdir(d))) {
		char dev[PATH_MAX], attr[PATH_MAX + 32], real[PATH_MAX], vendor[16], device[16], drv[256], grp[64];
		if (de->d_name[0] == '.')
			continue;
		snprintf(dev, sizeof dev, "%s/%s", base, de->d_name);
		if (!realpath(dev, real))
			continue; /* removed while we looked */
		snprintf(attr, sizeof attr, "%s/vendor", dev);
		attr_word(attr, vendor, sizeof vendor);
		snprintf(attr, sizeof attr, "%s/device", dev);
		attr_word(attr, device, sizeof device);
		snprintf(attr, sizeof attr, "%s/driver", dev);
		link_base(attr, drv, sizeof drv);
		snprintf(attr, sizeof attr, "%s/iommu_group", dev);
		link_base(attr, grp, sizeof grp);
		out_fmt(&lines, "%s %s %s %s- %s-\n", real, vendor, device, drv, grp);
		count++;
	}
	closedir(d);
	put_ret(r, count, 0);
	out_raw(r, ",\"data\":", 8);
	out_hex(r, lines.p, lines.len);
	free(lines.p);
	return NULL;
}

static const char *op_eventfd(const struct jobj *o, struct out *r)
{
	int fd;
	(void)o;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	put_ret(r, fd, errno);
	return NULL;
}

static const char *op_getpid(const struct jobj *o, struct out *r)
{
	(void)o;
	put_ret(r, getpid(), 0);
	return NULL;
}

/* {"op":"caps_effective","caps":"cap_sys_rawio"|"none"}: ident.c's caps_effective. */
static const char *op_caps_effective(const struct jobj *o, struct out *r)
{
	const char *list, *bad;
	int ret, err;
	TRY(jget_str(o, "caps", &list));
	bad = caps_effective(list, &ret, &err);
	if (bad)
		return bad;
	put_ret(r, ret, err);
	return NULL;
}

static bool exit_requested;

static const char *op_exit(const struct jobj *o, struct out *r)
{
	(void)o;
	put_ret(r, 0, 0);
	exit_requested = true;
	return NULL;
}

static const struct op {
	const char *name;
	const char *fields; /* the fields it accepts besides id and op */
	const char *(*fn)(const struct jobj *, struct out *);
} ops[] = {
	{ "open", "path flags mode", op_open },
	{ "close", "fd", op_close },
	{ "ioctl", "fd req buf val", op_ioctl },
	{ "read", "fd len", op_read },
	{ "pread", "fd len off", op_pread },
	{ "write", "fd data", op_write },
	{ "pwrite", "fd data off", op_pwrite },
	{ "write_file", "path data", op_write_file },
	{ "readlink", "path", op_readlink },
	{ "mem_alloc", "len", op_mem_alloc },
	{ "mmap", "fd len off prot", op_mmap },
	{ "munmap", "addr len", op_munmap },
	{ "mem_read", "addr len", op_mem_read },
	{ "mem_write", "addr data", op_mem_write },
	{ "pci_scan", "", op_pci_scan },
	{ "eventfd", "", op_eventfd },
	{ "getpid", "", op_getpid },
	{ "caps_effective", "caps", op_caps_effective },
	{ "exit", "", op_exit },
};

static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; *p;) {
		size_t m = strcspn(p, " ");
		if (m == n && !memcmp(p, word, n))
			return true;
		p += m;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* Runs one request; NULL, or an error meaning nothing was called. Unknown fields are errors
 * too, so that a misspelt optional field ("mdoe") is not silently ignored. */
static const char *dispatch(const struct jobj *o, struct out *r)
{
	static char err[160];
	const char *name;
	const struct op *op = NULL;
	TRY(jget_str(o, "op", &name));
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(ops[i].name, name))
			op = &ops[i];
	if (!op) {
		snprintf(err, sizeof err, "unknown op \"%.60s\"", name);
		return err;
	}
	for (int i = 0; i < o->n; i++)
		if (strcmp(o->f[i].key, "id") && strcmp(o->f[i].key, "op") && !word_in(o->f[i].key, op->fields)) {
			snprintf(err, sizeof err, "op %s: unknown field \"%.40s\"", op->name, o->f[i].key);
			return err;
		}
	errno = 0;
	return op->fn(o, r);
}

/* The id of a line the parser rejected, if it at least starts like a request. */
static bool salvage_id(const char *line, uint64_t *id)
{
	const char *p = line;
	uint64_t v = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "{\"id\":", 6))
		return false;
	p += 6;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*id = v;
	return true;
}

static void handle_line(char *line, size_t len, struct out *r)
{
	struct jobj o;
	const char *e;
	uint64_t id = 0;
	bool has_id;
	size_t start;

	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	has_id = salvage_id(line, &id);
	if (len > 2 * (size_t)AGENT_MAX_BUF + 65536) {
		e = "request line is too long (buffers are limited to 16 MiB)";
	} else if (!(e = json_parse_line(line, len, &o))) {
		/* Parsed: the id is what the object says, if anything. */
		has_id = false;
		if (jfind(&o, "id"))
			has_id = !(e = jget_u64(&o, "id", &id));
	}
	out_raw(r, "{\"id\":", 6);
	if (has_id)
		out_fmt(r, "%llu", (unsigned long long)id);
	else
		out_raw(r, "null", 4);
	start = r->len;
	if (!e && !jfind(&o, "id"))
		e = "missing field \"id\"";
	if (!e && (e = dispatch(&o, r)))
		r->len = start; /* drop anything half-written */
	if (e) {
		out_raw(r, ",\"error\":", 9);
		out_str(r, e, strlen(e));
	}
	out_raw(r, "}", 1);
	out_flush_line(r);
}

int main(int argc, char **argv)
{
	struct out r = { 0 };
	struct sigaction sa;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	ident_setup(argc, argv);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* A closed channel shows as EPIPE from write(), handled in out_flush_line. */
	signal(SIGPIPE, SIG_IGN);

	out_raw(&r, "{\"ready\":true", 13);
	ident_hello(&r);
	out_raw(&r, "}", 1);
	out_flush_line(&r);

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		handle_line(line, (size_t)n, &r);
		if (exit_requested)
			return 0;
	}
	return 0;
}
