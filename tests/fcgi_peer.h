/*
 * The web-server side of FastCGI for unit tests: a small record encoder
 * and decoder (tests/check_fcgi.c, tests/check_sapi.c).  Header-only:
 * each test includes what it uses.
 */
#ifndef PFPM_TEST_FCGI_PEER_H
#define PFPM_TEST_FCGI_PEER_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#define PEER_FN static __attribute__((unused))

#define T_BEGIN_REQUEST 1
#define T_ABORT_REQUEST 2
#define T_END_REQUEST 3
#define T_PARAMS 4
#define T_STDIN 5
#define T_STDOUT 6
#define T_STDERR 7
#define T_DATA 8
#define T_GET_VALUES 9
#define T_GET_VALUES_RESULT 10
#define T_UNKNOWN_TYPE 11

#define ROLE_RESPONDER 1
#define ROLE_AUTHORIZER 2
#define ROLE_FILTER 3
#define F_KEEP_CONN 1

#define PS_REQUEST_COMPLETE 0
#define PS_CANT_MPX_CONN 1
#define PS_UNKNOWN_ROLE 3

/* ---------------------------------------------------------------------- */
/* A tiny FastCGI encoder and decoder for the web-server side. */

struct buf {
	unsigned char *p;
	size_t len;
	size_t cap;
};

PEER_FN void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

PEER_FN void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* One record with `pad` padding bytes (garbage, as the spec allows). */
PEER_FN void
rec(struct buf *b, int type, int id, const void *data, size_t len, int pad)
{
	unsigned char h[8];
	unsigned char junk[255];

	ck_assert_uint_le(len, 65535);
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = (unsigned char)pad;
	h[7] = 0;
	buf_add(b, h, 8);
	buf_add(b, data, len);
	memset(junk, 0xee, sizeof junk);
	buf_add(b, junk, (size_t)pad);
}

PEER_FN void
begin(struct buf *b, int id, int role, int flags)
{
	unsigned char body[8] = { 0 };

	body[0] = (unsigned char)(role >> 8);
	body[1] = (unsigned char)role;
	body[2] = (unsigned char)flags;
	rec(b, T_BEGIN_REQUEST, id, body, 8, 0);
}

/* A length, in one byte below 128 unless `wide` forces the four-byte form. */
PEER_FN void
nv_len(struct buf *b, size_t len, bool wide)
{
	unsigned char l[4];

	if (len < 128 && !wide) {
		l[0] = (unsigned char)len;
		buf_add(b, l, 1);
		return;
	}
	l[0] = (unsigned char)((len >> 24) | 0x80);
	l[1] = (unsigned char)(len >> 16);
	l[2] = (unsigned char)(len >> 8);
	l[3] = (unsigned char)len;
	buf_add(b, l, 4);
}

PEER_FN void
nv2(struct buf *b, const char *name, size_t nlen, const char *value,
    size_t vlen, bool wide)
{
	nv_len(b, nlen, wide);
	nv_len(b, vlen, wide);
	buf_add(b, name, nlen);
	buf_add(b, value, vlen);
}

PEER_FN void
nv(struct buf *b, const char *name, const char *value)
{
	nv2(b, name, strlen(name), value, strlen(value), false);
}

/* A params stream cut into records of `chunk` bytes, then the empty one. */
PEER_FN void
params(struct buf *b, int id, const struct buf *stream, size_t chunk, int pad)
{
	size_t off;

	for (off = 0; off < stream->len; off += chunk) {
		size_t n = stream->len - off < chunk ? stream->len - off : chunk;
		rec(b, T_PARAMS, id, stream->p + off, n, pad);
	}
	rec(b, T_PARAMS, id, NULL, 0, 0);
}

PEER_FN void
stdin_recs(struct buf *b, int id, const char *data, size_t len, size_t chunk,
    int pad)
{
	size_t off;

	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		rec(b, T_STDIN, id, data + off, n, pad);
	}
	rec(b, T_STDIN, id, NULL, 0, 0);
}

/* The usual request: a few params, a body, keep-conn as asked. */
PEER_FN void
simple_request(struct buf *w, int id, int flags, const char *uri,
    const char *body)
{
	struct buf st = { 0 };
	char cl[32];

	snprintf(cl, sizeof cl, "%zu", strlen(body));
	nv(&st, "REQUEST_METHOD", "POST");
	nv(&st, "REQUEST_URI", uri);
	nv(&st, "CONTENT_LENGTH", cl);
	begin(w, id, ROLE_RESPONDER, flags);
	params(w, id, &st, 4096, 0);
	stdin_recs(w, id, body, strlen(body), 4096, 0);
	buf_free(&st);
}

struct record {
	int version;
	int type;
	int id;
	size_t clen;
	unsigned char *content;
};

/* Wait up to ms for the fd to be readable: 1 yes, 0 timeout. */
PEER_FN int
wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

PEER_FN int
read_n(int fd, void *dst, size_t len)
{
	unsigned char *p = dst;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (!wait_readable(fd, 3000))
			return -1;
		n = read(fd, p + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return got == 0 && n == 0 ? 1 : -1;
		got += (size_t)n;
	}
	return 0;
}

/* One record from fcgi.c: 0, 1 at EOF, -1 on timeout or short record. */
PEER_FN int
read_rec(int fd, struct record *r)
{
	unsigned char h[8], pad[255];
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = read_n(fd, h, 8)) != 0)
		return rc;
	r->version = h[0];
	r->type = h[1];
	r->id = h[2] << 8 | h[3];
	r->clen = (size_t)(h[4] << 8 | h[5]);
	r->content = xmalloc(r->clen + 1);
	if (r->clen > 0 && read_n(fd, r->content, r->clen) != 0)
		return -1;
	r->content[r->clen] = '\0';
	if (h[6] > 0 && read_n(fd, pad, h[6]) != 0)
		return -1;
	return 0;
}

PEER_FN void
rec_free(struct record *r)
{
	free(r->content);
	r->content = NULL;
}


#endif
