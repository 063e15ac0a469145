/* Command line, identity change and capabilities, done once at start-up.
 *
 *   --gid N                 setgroups({N}), setgid(N)
 *   --uid N                 setuid(N) (after the gid change; --gid defaults to N)
 *   --drop-caps             empty every capability set, bounding and ambient included
 *   --keep-caps a,b|none    the same, except that exactly a,b stay (effective+permitted+bounding)
 *
 * Both cap options also set no_new_privs. The syscalls are made directly (capget/capset,
 * prctl), since the agent is static and depends on nothing but libc.
 *
 * Later, on request (op caps_effective), the effective set alone can be lowered to a list of
 * the permitted one and raised back: a file opened with a capability stays open without it,
 * which is how a check made at a later ioctl is reached (vfio_noiommu_open's CAP_SYS_RAWIO).
 * Exit 2: a bad option (including a capability this kernel does not know). Exit 3: a
 * syscall applying the options failed. Either way stderr says why. */
#include "agent.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum caps_mode { CAPS_UNCHANGED, CAPS_DROP, CAPS_KEEP };

__attribute__((noreturn, format(printf, 1, 2))) static void bad_option(const char *fmt, ...)
{
	va_list ap;
	fputs("vfio-conform-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: vfio-conform-agent [--gid N] [--uid N] [--drop-caps | --keep-caps cap_a,cap_b|none]\n", stderr);
	exit(2);
}

__attribute__((noreturn)) static void apply_failed(const char *what)
{
	fprintf(stderr, "vfio-conform-agent: %s failed: %s\n", what, strerror(errno));
	exit(3);
}

static uint32_t parse_id(const char *opt, const char *s)
{
	uint64_t v = 0;
	if (!*s)
		bad_option("%s needs a number", opt);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			bad_option("%s: not a number: '%s'", opt, s);
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= UINT32_MAX) /* (uid_t)-1 means "unchanged" to the kernel: not an id */
			bad_option("%s: out of range: '%s'", opt, s);
	}
	return (uint32_t)v;
}

/* Version 3 capability sets are two 32-bit words each; combine them into 64-bit masks. */
static int caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -1;
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	*prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	*inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	return 0;
}

static int caps_set(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	return (int)syscall(SYS_capset, &h, d);
}

/* The highest capability the running kernel knows: PR_CAPBSET_READ fails with EINVAL past
 * it (this needs no privilege and no /proc). */
static int cap_last(void)
{
	int c = 0;
	while (c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0)
		c++;
	return c - 1;
}

static uint64_t parse_keep(const char *list)
{
	uint64_t keep = 0;
	const char *p = list;
	if (!strcmp(list, "none"))
		return 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		int c = cap_from_name(p, n);
		if (c < 0)
			bad_option("--keep-caps: unknown capability '%.*s'", (int)n, p);
		keep |= 1ull << c;
		if (!p[n])
			break;
		p += n + 1;
	}
	return keep;
}

void ident_setup(int argc, char **argv)
{
	bool has_uid = false, has_gid = false;
	uint32_t uid = 0, gid = 0;
	enum caps_mode mode = CAPS_UNCHANGED;
	uint64_t keep = 0, eff, prm, inh;
	int last;

	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *val = NULL, *eq = strchr(arg, '=');
		bool wants_value = !strncmp(arg, "--uid", 5) || !strncmp(arg, "--gid", 5) || !strncmp(arg, "--keep-caps", 11);
		if (eq && wants_value) { /* --uid=N as well as --uid N */
			*eq = '\0';
			val = eq + 1;
		} else if (wants_value) {
			if (i + 1 >= argc)
				bad_option("%s needs a value", arg);
			val = argv[++i];
		}
		if (!strcmp(arg, "--uid")) {
			if (has_uid)
				bad_option("--uid given twice");
			has_uid = true;
			uid = parse_id(arg, val);
		} else if (!strcmp(arg, "--gid")) {
			if (has_gid)
				bad_option("--gid given twice");
			has_gid = true;
			gid = parse_id(arg, val);
		} else if (!strcmp(arg, "--drop-caps") || !strcmp(arg, "--keep-caps")) {
			if (mode != CAPS_UNCHANGED)
				bad_option("--drop-caps/--keep-caps given twice");
			mode = val ? CAPS_KEEP : CAPS_DROP;
			keep = val ? parse_keep(val) : 0;
		} else {
			bad_option("unknown option '%s'", arg);
		}
	}
	last = cap_last();
	if (last < 0)
		last = 0;
	for (int c = last + 1; c < 64; c++)
		if (keep & (1ull << c))
			bad_option("--keep-caps: %s is not supported by this kernel (cap_last_cap %d)",
				   cap_name(c) ? cap_name(c) : "?", last);
	if (has_uid && !has_gid)
		has_gid = true, gid = uid;

	if (has_gid) {
		gid_t g = gid;
		if (setgroups(1, &g))
			apply_failed("setgroups");
		if (setgid(gid))
			apply_failed("setgid");
	}
	if (has_uid) {
		/* Without KEEPCAPS, setuid away from 0 empties the permitted set, and then neither
		 * the bounding set could be dropped (needs CAP_SETPCAP) nor a cap kept. */
		if (mode != CAPS_UNCHANGED && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
			apply_failed("prctl(PR_SET_KEEPCAPS)");
		if (setuid(uid))
			apply_failed("setuid");
	}
	if (mode == CAPS_UNCHANGED)
		return;

	/* setuid cleared the effective set; raise it back to the permitted one for the drops. */
	if (caps_get(&eff, &prm, &inh))
		apply_failed("capget");
	if ((keep & prm) != keep) {
		for (int c = 0; c < 64; c++)
			if ((keep & ~prm) & (1ull << c))
				fprintf(stderr, "vfio-conform-agent: cannot keep %s: not in the permitted set\n", cap_name(c));
		exit(3);
	}
	if (caps_set(prm, prm, inh))
		apply_failed("capset (raising effective)");
	for (int c = 0; c <= last; c++)
		if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			apply_failed("prctl(PR_CAPBSET_DROP)");
	/* Ambient capabilities exist since 4.3; on older kernels there is nothing to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		apply_failed("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	if (caps_set(keep, keep, 0))
		apply_failed("capset");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0))
		apply_failed("prctl(PR_SET_KEEPCAPS, 0)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		apply_failed("prctl(PR_SET_NO_NEW_PRIVS)");
}

static void hex_field(struct out *b, const char *name, uint64_t v)
{
	out_fmt(b, ",\"%s\":\"0x%llx\"", name, (unsigned long long)v);
}

void ident_hello(struct out *b)
{
	uint64_t eff = 0, prm = 0, inh = 0, bnd = 0, amb = 0;
	gid_t groups[64];
	int ng = getgroups(64, groups), last = cap_last();
	bool first = true;

	out_fmt(b, ",\"pid\":%d,\"uid\":%u,\"gid\":%u,\"euid\":%u,\"egid\":%u,\"groups\":[", (int)getpid(),
		(unsigned)getuid(), (unsigned)getgid(), (unsigned)geteuid(), (unsigned)getegid());
	for (int i = 0; i < ng; i++)
		out_fmt(b, "%s%u", i ? "," : "", (unsigned)groups[i]);
	out_raw(b, "]", 1);

	caps_get(&eff, &prm, &inh);
	for (int c = 0; c <= last; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			bnd |= 1ull << c;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			amb |= 1ull << c;
	}
	/* "caps": the effective set by name (what the agent's syscalls run with), or "none". */
	out_raw(b, ",\"caps\":\"", 9);
	for (int c = 0; c < 64; c++) {
		if (!(eff & (1ull << c)))
			continue;
		if (cap_name(c))
			out_fmt(b, "%s%s", first ? "" : ",", cap_name(c));
		else
			out_fmt(b, "%scap_%d", first ? "" : ",", c);
		first = false;
	}
	if (first)
		out_raw(b, "none", 4);
	out_raw(b, "\"", 1);
	hex_field(b, "cap_eff", eff);
	hex_field(b, "cap_prm", prm);
	hex_field(b, "cap_inh", inh);
	hex_field(b, "cap_bnd", bnd);
	hex_field(b, "cap_amb", amb);
	out_fmt(b, ",\"no_new_privs\":%d,\"max_buf\":%u", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), AGENT_MAX_BUF);
}

/* The effective set becomes exactly the named capabilities ("cap_a,cap_b" or "none"); the
 * permitted and inheritable sets stay. Returns NULL and sets *ret and *err from capset (EPERM for
 * a capability not permitted), or a message when the list names an unknown capability. */
const char *caps_effective(const char *list, int *ret, int *err)
{
	static char msg[96];
	uint64_t want = 0, eff, prm, inh;
	const char *p = list;
	if (strcmp(list, "none")) {
		for (;;) {
			size_t n = strcspn(p, ",");
			int c = cap_from_name(p, n);
			if (c < 0) {
				snprintf(msg, sizeof msg, "caps_effective: unknown capability '%.*s'", (int)(n > 40 ? 40 : n), p);
				return msg;
			}
			want |= 1ull << c;
			if (!p[n])
				break;
			p += n + 1;
		}
	}
	errno = 0;
	*ret = caps_get(&eff, &prm, &inh);
	if (!*ret)
		*ret = caps_set(want, prm, inh);
	*err = *ret ? errno : 0;
	return NULL;
}
