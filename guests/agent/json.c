/* A deliberately tiny, strict JSON reader for the agent's requests and a writer for its
 * responses. Requests are flat objects whose values are strings, integers, true, false or
 * null; anything else (nested objects, arrays, fractions, exponents) is rejected rather
 * than guessed at, so that a client bug shows up as an error response. */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char errbuf[256];

static const char *errf(const char *fmt, const char *key)
{
	snprintf(errbuf, sizeof errbuf, fmt, key);
	return errbuf;
}

struct cursor {
	char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int read_u16(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Decodes the string starting after the opening quote into the same storage (escapes never
 * grow when decoded, so writing behind the reading position is safe). */
static const char *parse_string(struct cursor *c, char **out, size_t *outlen)
{
	char *dst = c->p, *start = c->p;
	for (;;) {
		if (c->p >= c->end)
			return "unterminated string";
		unsigned char ch = (unsigned char)*c->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return "control character in string";
		if (ch != '\\') {
			*dst++ = (char)ch;
			continue;
		}
		if (c->p >= c->end)
			return "unterminated escape";
		switch (*c->p++) {
		case '"': *dst++ = '"'; break;
		case '\\': *dst++ = '\\'; break;
		case '/': *dst++ = '/'; break;
		case 'b': *dst++ = '\b'; break;
		case 'f': *dst++ = '\f'; break;
		case 'n': *dst++ = '\n'; break;
		case 'r': *dst++ = '\r'; break;
		case 't': *dst++ = '\t'; break;
		case 'u': {
			unsigned u, lo;
			if (read_u16(c->p, c->end, &u))
				return "bad \\u escape";
			c->p += 4;
			if (u >= 0xd800 && u <= 0xdbff) { /* a surrogate pair encodes one code point */
				if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || read_u16(c->p + 2, c->end, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return "unpaired surrogate in \\u escape";
				c->p += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return "unpaired surrogate in \\u escape";
			}
			if (u == 0)
				return "NUL in string"; /* paths are C strings */
			if (u < 0x80) {
				*dst++ = (char)u;
			} else if (u < 0x800) {
				*dst++ = (char)(0xc0 | u >> 6);
				*dst++ = (char)(0x80 | (u & 0x3f));
			} else if (u < 0x10000) {
				*dst++ = (char)(0xe0 | u >> 12);
				*dst++ = (char)(0x80 | ((u >> 6) & 0x3f));
				*dst++ = (char)(0x80 | (u & 0x3f));
			} else {
				*dst++ = (char)(0xf0 | u >> 18);
				*dst++ = (char)(0x80 | ((u >> 12) & 0x3f));
				*dst++ = (char)(0x80 | ((u >> 6) & 0x3f));
				*dst++ = (char)(0x80 | (u & 0x3f));
			}
			break;
		}
		default:
			return "bad escape in string";
		}
	}
	/* dst < c->p here (the closing quote was consumed), so the terminator never
	 * overwrites anything still to be read. */
	*dst = '\0';
	*out = start;
	*outlen = (size_t)(dst - start);
	return NULL;
}

const char *json_parse_line(char *line, size_t len, struct jobj *o)
{
	struct cursor c = { line, line + len };
	o->n = 0;
	if (memchr(line, '\0', len))
		return "NUL byte in request";
	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{')
		return "request is not a JSON object";
	c.p++;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		c.p++;
		goto done;
	}
	for (;;) {
		struct jfield *f;
		char *key;
		size_t keylen;
		const char *e;

		skip_ws(&c);
		if (c.p >= c.end || *c.p != '"')
			return "expected a quoted key";
		c.p++;
		if ((e = parse_string(&c, &key, &keylen)))
			return e;
		if (jfind(o, key))
			return errf("duplicate field \"%s\"", key);
		if (o->n == JMAX_FIELDS)
			return "too many fields";
		f = &o->f[o->n];
		f->key = key;
		skip_ws(&c);
		if (c.p >= c.end || *c.p != ':')
			return "expected ':'";
		c.p++;
		skip_ws(&c);
		if (c.p >= c.end)
			return "missing value";
		if (*c.p == '"') {
			c.p++;
			f->type = J_STRING;
			if ((e = parse_string(&c, &f->str, &f->len)))
				return e;
		} else if (*c.p == '-' || (*c.p >= '0' && *c.p <= '9')) {
			/* Integers only; the literal is kept and interpreted by the getter. It is
			 * NUL-terminated once the separator after it has been read (below). */
			f->type = J_NUMBER;
			f->str = c.p;
			if (*c.p == '-')
				c.p++;
			while (c.p < c.end && *c.p >= '0' && *c.p <= '9')
				c.p++;
			f->len = (size_t)(c.p - f->str);
			if (c.p < c.end && (*c.p == '.' || *c.p == 'e' || *c.p == 'E'))
				return errf("field \"%s\": only integers are supported", key);
			if (f->len == 0 || (f->len == 1 && f->str[0] == '-'))
				return errf("field \"%s\": bad number", key);
		} else if (c.end - c.p >= 4 && !memcmp(c.p, "true", 4)) {
			f->type = J_TRUE, f->str = NULL, f->len = 0, c.p += 4;
		} else if (c.end - c.p >= 5 && !memcmp(c.p, "false", 5)) {
			f->type = J_FALSE, f->str = NULL, f->len = 0, c.p += 5;
		} else if (c.end - c.p >= 4 && !memcmp(c.p, "null", 4)) {
			f->type = J_NULL, f->str = NULL, f->len = 0, c.p += 4;
		} else if (*c.p == '{' || *c.p == '[') {
			return errf("field \"%s\": nested values are not supported", key);
		} else {
			return errf("field \"%s\": bad value", key);
		}
		o->n++;
		skip_ws(&c);
		if (c.p >= c.end)
			return "unterminated object";
		/* Now the byte after a number is known to be ',' or '}' (checked below), and
		 * overwriting it with the number's terminator is safe because it is consumed. */
		if (*c.p == ',') {
			if (f->type == J_NUMBER)
				f->str[f->len] = '\0';
			c.p++;
			continue;
		}
		if (*c.p == '}') {
			if (f->type == J_NUMBER)
				f->str[f->len] = '\0';
			c.p++;
			break;
		}
		return "expected ',' or '}'";
	}
done:
	skip_ws(&c);
	if (c.p != c.end)
		return "trailing characters after the object";
	return NULL;
}

const struct jfield *jfind(const struct jobj *o, const char *key)
{
	for (int i = 0; i < o->n; i++)
		if (!strcmp(o->f[i].key, key))
			return &o->f[i];
	return NULL;
}

const char *jget_str(const struct jobj *o, const char *key, const char **out)
{
	const struct jfield *f = jfind(o, key);
	if (!f)
		return errf("missing field \"%s\"", key);
	if (f->type != J_STRING)
		return errf("field \"%s\" must be a string", key);
	*out = f->str;
	return NULL;
}

/* Integers come as JSON numbers or, for values beyond 2^53 that a JavaScript number cannot
 * carry exactly (ioctl numbers, addresses, offsets), as strings holding a decimal or 0x-hex
 * integer, optionally negative. Result: sign and magnitude. */
static const char *parse_int(const struct jobj *o, const char *key, bool *neg, uint64_t *mag)
{
	const struct jfield *f = jfind(o, key);
	const char *p;
	uint64_t v = 0;
	unsigned base = 10;

	if (!f)
		return errf("missing field \"%s\"", key);
	if (f->type != J_NUMBER && f->type != J_STRING)
		return errf("field \"%s\" must be an integer", key);
	p = f->str;
	*neg = *p == '-';
	if (*neg)
		p++;
	if (f->type == J_STRING && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	if (!*p)
		return errf("field \"%s\" must be an integer", key);
	for (; *p; p++) {
		int d = base == 16 ? hexval(*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
		if (d < 0)
			return errf("field \"%s\" must be an integer", key);
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return errf("field \"%s\" does not fit in 64 bits", key);
		v = v * base + (unsigned)d;
	}
	*mag = v;
	return NULL;
}

const char *jget_i64(const struct jobj *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	bool neg;
	uint64_t mag;
	int64_t v;
	const char *e = parse_int(o, key, &neg, &mag);
	if (e)
		return e;
	if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
		return errf("field \"%s\" is out of range", key);
	v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	if (v < min || v > max)
		return errf("field \"%s\" is out of range", key);
	*out = v;
	return NULL;
}

/* Unsigned 64-bit; a negative value is taken as its two's complement (-1 -> ~0), as C does
 * when an int is passed as an unsigned long ioctl argument. */
const char *jget_u64(const struct jobj *o, const char *key, uint64_t *out)
{
	bool neg;
	uint64_t mag;
	const char *e = parse_int(o, key, &neg, &mag);
	if (e)
		return e;
	if (neg && mag > (uint64_t)INT64_MAX + 1)
		return errf("field \"%s\" is out of range", key);
	*out = neg ? 0 - mag : mag;
	return NULL;
}

const char *jget_hex(const struct jobj *o, const char *key, unsigned char **out, size_t *n)
{
	const struct jfield *f = jfind(o, key);
	unsigned char *dst;
	if (!f)
		return errf("missing field \"%s\"", key);
	if (f->type != J_STRING || f->len % 2)
		return errf("field \"%s\" must be a hex string of even length", key);
	if (f->len / 2 > AGENT_MAX_BUF)
		return errf("field \"%s\" is larger than the agent's 16 MiB buffer limit", key);
	dst = (unsigned char *)f->str;
	for (size_t i = 0; i < f->len; i += 2) {
		int hi = hexval(f->str[i]), lo = hexval(f->str[i + 1]);
		if (hi < 0 || lo < 0)
			return errf("field \"%s\" must be a hex string of even length", key);
		dst[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = dst;
	*n = f->len / 2;
	return NULL;
}

/* ---- output ---- */

static void reserve(struct out *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		/* Without memory there is no way to answer; the client sees the channel close. */
		static const char msg[] = "vfio-conform-agent: out of memory building a response\n";
		if (write(2, msg, sizeof msg - 1) < 0) {
		}
		_exit(1);
	}
	b->p = p;
	b->cap = cap;
}

void out_raw(struct out *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void out_fmt(struct out *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void out_str(struct out *b, const char *s, size_t n)
{
	reserve(b, n * 6 + 2);
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			b->len += (size_t)sprintf(b->p + b->len, "\\u%04x", ch);
		} else {
			/* Bytes >= 0x80 pass through; error texts are ASCII and paths travel as hex. */
			b->p[b->len++] = (char)ch;
		}
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

void out_hex(struct out *b, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *s = p;
	reserve(b, n * 2 + 2);
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = digits[s[i] >> 4];
		b->p[b->len++] = digits[s[i] & 15];
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

void out_flush_line(struct out *b)
{
	size_t off = 0;
	out_raw(b, "\n", 1);
	while (off < b->len) {
		ssize_t n = write(1, b->p + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1); /* the channel is gone; nobody is left to answer */
		off += (size_t)n;
	}
	b->len = 0;
}
