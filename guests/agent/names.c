/* Name tables: errno values, capabilities and open(2) flags. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Every errno Linux defines for user space (asm-generic/errno-base.h and errno.h, which
 * x86 uses). Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) share a number with the name used
 * here. Indexed by number, so the compiler checks each name exists. */
#define N(e) [e] = #e
static const char *const errno_names[] = {
	N(EPERM), N(ENOENT), N(ESRCH), N(EINTR), N(EIO), N(ENXIO), N(E2BIG), N(ENOEXEC), N(EBADF),
	N(ECHILD), N(EAGAIN), N(ENOMEM), N(EACCES), N(EFAULT), N(ENOTBLK), N(EBUSY), N(EEXIST), N(EXDEV),
	N(ENODEV), N(ENOTDIR), N(EISDIR), N(EINVAL), N(ENFILE), N(EMFILE), N(ENOTTY), N(ETXTBSY),
	N(EFBIG), N(ENOSPC), N(ESPIPE), N(EROFS), N(EMLINK), N(EPIPE), N(EDOM), N(ERANGE), N(EDEADLK),
	N(ENAMETOOLONG), N(ENOLCK), N(ENOSYS), N(ENOTEMPTY), N(ELOOP), N(ENOMSG), N(EIDRM), N(ECHRNG),
	N(EL2NSYNC), N(EL3HLT), N(EL3RST), N(ELNRNG), N(EUNATCH), N(ENOCSI), N(EL2HLT), N(EBADE),
	N(EBADR), N(EXFULL), N(ENOANO), N(EBADRQC), N(EBADSLT), N(EBFONT), N(ENOSTR), N(ENODATA),
	N(ETIME), N(ENOSR), N(ENONET), N(ENOPKG), N(EREMOTE), N(ENOLINK), N(EADV), N(ESRMNT), N(ECOMM),
	N(EPROTO), N(EMULTIHOP), N(EDOTDOT), N(EBADMSG), N(EOVERFLOW), N(ENOTUNIQ), N(EBADFD), N(EREMCHG),
	N(ELIBACC), N(ELIBBAD), N(ELIBSCN), N(ELIBMAX), N(ELIBEXEC), N(EILSEQ), N(ERESTART), N(ESTRPIPE),
	N(EUSERS), N(ENOTSOCK), N(EDESTADDRREQ), N(EMSGSIZE), N(EPROTOTYPE), N(ENOPROTOOPT),
	N(EPROTONOSUPPORT), N(ESOCKTNOSUPPORT), N(EOPNOTSUPP), N(EPFNOSUPPORT), N(EAFNOSUPPORT),
	N(EADDRINUSE), N(EADDRNOTAVAIL), N(ENETDOWN), N(ENETUNREACH), N(ENETRESET), N(ECONNABORTED),
	N(ECONNRESET), N(ENOBUFS), N(EISCONN), N(ENOTCONN), N(ESHUTDOWN), N(ETOOMANYREFS), N(ETIMEDOUT),
	N(ECONNREFUSED), N(EHOSTDOWN), N(EHOSTUNREACH), N(EALREADY), N(EINPROGRESS), N(ESTALE),
	N(EUCLEAN), N(ENOTNAM), N(ENAVAIL), N(EISNAM), N(EREMOTEIO), N(EDQUOT), N(ENOMEDIUM),
	N(EMEDIUMTYPE), N(ECANCELED), N(ENOKEY), N(EKEYEXPIRED), N(EKEYREVOKED), N(EKEYREJECTED),
	N(EOWNERDEAD), N(ENOTRECOVERABLE), N(ERFKILL), N(EHWPOISON),
};
#undef N

/* Kernel-internal codes (include/linux/errno.h) that are not meant to reach user space but
 * do leak from some drivers and ioctl paths (ENOTSUPP most often); naming them makes such
 * a result readable instead of "E524". */
static const struct {
	int num;
	const char *name;
} kernel_errnos[] = {
	{ 512, "ERESTARTSYS" },  { 513, "ERESTARTNOINTR" }, { 514, "ERESTARTNOHAND" }, { 515, "ENOIOCTLCMD" },
	{ 516, "ERESTART_RESTARTBLOCK" }, { 517, "EPROBE_DEFER" }, { 518, "EOPENSTALE" }, { 519, "ENOPARAM" },
	{ 521, "EBADHANDLE" },   { 522, "ENOTSYNC" },       { 523, "EBADCOOKIE" },     { 524, "ENOTSUPP" },
	{ 525, "ETOOSMALL" },    { 526, "ESERVERFAULT" },   { 527, "EBADTYPE" },       { 528, "EJUKEBOX" },
	{ 529, "EIOCBQUEUED" },  { 530, "ERECALLCONFLICT" }, { 531, "ENOGRACE" },
};

const char *errno_name(int e, char *tmp, size_t tmplen)
{
	if (e > 0 && (size_t)e < sizeof errno_names / sizeof errno_names[0] && errno_names[e])
		return errno_names[e];
	for (size_t i = 0; i < sizeof kernel_errnos / sizeof kernel_errnos[0]; i++)
		if (kernel_errnos[i].num == e)
			return kernel_errnos[i].name;
	snprintf(tmp, tmplen, "E%d", e);
	return tmp;
}

/* Capability numbers from linux/capability.h, spelled as in capabilities(7) and getpcaps. */
static const char *const cap_names[CAP_NAMES_KNOWN] = {
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
	"cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
	"cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
	"cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct",
	"cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
	"cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control",
	"cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
	"cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};

const char *cap_name(int cap)
{
	return cap >= 0 && cap < CAP_NAMES_KNOWN ? cap_names[cap] : NULL;
}

int cap_from_name(const char *name, size_t len)
{
	if (len > 4 && !strncasecmp(name, "cap_", 4))
		name += 4, len -= 4;
	for (int i = 0; i < CAP_NAMES_KNOWN; i++)
		if (strlen(cap_names[i]) - 4 == len && !strncasecmp(cap_names[i] + 4, name, len))
			return i;
	return -1;
}

#define F(f) { #f, f }
static const struct {
	const char *name;
	int flag;
} open_flags[] = {
	F(O_RDONLY), F(O_WRONLY),   F(O_RDWR),      F(O_CLOEXEC), F(O_NONBLOCK), F(O_CREAT),
	F(O_TRUNC),  F(O_APPEND),   F(O_EXCL),      F(O_DIRECTORY), F(O_NOFOLLOW), F(O_NOCTTY),
	F(O_SYNC),   F(O_DSYNC),    F(O_PATH),      F(O_NOATIME), F(O_DIRECT),   F(O_LARGEFILE),
	F(O_TMPFILE),
};
#undef F

int open_flag_from_name(const char *name, size_t len, int *flag)
{
	for (size_t i = 0; i < sizeof open_flags / sizeof open_flags[0]; i++)
		if (strlen(open_flags[i].name) == len && !memcmp(open_flags[i].name, name, len)) {
			*flag = open_flags[i].flag;
			return 0;
		}
	return -1;
}
