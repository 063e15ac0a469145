/* Shared declarations of the guest agent (see agent.c for the protocol). */
#ifndef VFIO_CONFORM_AGENT_H
#define VFIO_CONFORM_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest single byte buffer a request may carry or ask for (ioctl argument, read,
 * mem_read ...). Big enough for any VFIO/iommufd structure and for DMA test patterns;
 * small enough that a typo (len 1e12) is an error response instead of an OOM kill. */
#define AGENT_MAX_BUF (16u << 20)

/* ---- json.c: a strict parser for one flat request object, and a response builder ---- */

enum jtype { J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL };

struct jfield {
	const char *key;   /* decoded, NUL-terminated, points into the request line */
	enum jtype type;
	char *str;         /* J_STRING: decoded value (NUL-terminated, in the line); J_NUMBER: its literal text */
	size_t len;        /* length of str */
};

#define JMAX_FIELDS 16
struct jobj {
	int n;
	struct jfield f[JMAX_FIELDS];
};

/* Parses one request line in place (strings are decoded into the line's own storage).
 * Returns NULL on success, or a message saying what is wrong. */
const char *json_parse_line(char *line, size_t len, struct jobj *o);
const struct jfield *jfind(const struct jobj *o, const char *key);

/* Typed getters: NULL on success, else an error message naming the field. A missing field
 * is an error; test with jfind() first for optional ones. */
const char *jget_str(const struct jobj *o, const char *key, const char **out);
const char *jget_i64(const struct jobj *o, const char *key, int64_t min, int64_t max, int64_t *out);
const char *jget_u64(const struct jobj *o, const char *key, uint64_t *out);
/* Hex-encoded bytes, decoded in place; at most AGENT_MAX_BUF bytes. */
const char *jget_hex(const struct jobj *o, const char *key, unsigned char **out, size_t *n);

/* A growing output buffer: one response line is built in it, then written at once. */
struct out {
	char *p;
	size_t len, cap;
};
void out_raw(struct out *b, const char *s, size_t n);
void out_fmt(struct out *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_str(struct out *b, const char *s, size_t n); /* as a JSON string, quoted and escaped */
void out_hex(struct out *b, const void *p, size_t n); /* as a quoted hex string */
/* Writes the whole line to stdout with write(2) (no stdio buffering) and empties b.
 * A broken stdout means the client is gone: exit quietly. */
void out_flush_line(struct out *b);

/* ---- names.c: tables of names ---- */
const char *errno_name(int e, char *tmp, size_t tmplen); /* "EBUSY"; unknown: "E<num>" in tmp */
#define CAP_NAMES_KNOWN 41                                 /* cap_chown (0) .. cap_checkpoint_restore (40) */
const char *cap_name(int cap);                             /* "cap_sys_admin", or NULL if unknown */
int cap_from_name(const char *name, size_t len);           /* -1 if unknown; "cap_" prefix optional */
int open_flag_from_name(const char *name, size_t len, int *flag); /* 0 ok, -1 unknown */

/* ---- ident.c: command line, identity and capabilities ---- */
void ident_setup(int argc, char **argv); /* exits 2 on a bad option, 3 when applying fails */
void ident_hello(struct out *b);         /* appends the hello fields after `{"ready":true` */
const char *caps_effective(const char *list, int *ret, int *err); /* op caps_effective; NULL: ran */

#endif
