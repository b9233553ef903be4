/*
 * The FastCGI protocol (responder role), one request at a time per
 * connection, with FCGI_KEEP_CONN.  Every length read from the peer is
 * bounded: a hostile or broken record ends that connection, never the
 * worker.
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <poll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FCGI_VERSION_1 1

#define FCGI_BEGIN_REQUEST 1
#define FCGI_ABORT_REQUEST 2
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_DATA 8
#define FCGI_GET_VALUES 9
#define FCGI_GET_VALUES_RESULT 10
#define FCGI_UNKNOWN_TYPE 11

#define FCGI_RESPONDER 1
#define FCGI_KEEP_CONN 1

#define FCGI_REQUEST_COMPLETE 0
#define FCGI_CANT_MPX_CONN 1
#define FCGI_UNKNOWN_ROLE 3

#define FCGI_PARAMS_MAX (1024 * 1024)	/* all params of one request */
#define FCGI_OUT_BUF 32768
#define FCGI_IN_BUF 16384
#define FCGI_ERR_BUF 8192

struct fcgi_param {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
	bool owned;		/* set by fcgi_param_set: value is malloc'd */
};

struct fcgi_conn {
	int fd;
	uint16_t req_id;
	bool in_request;
	bool keep;
	bool ended;
	bool aborted;
	bool abort_record;	/* the web server sent ABORT_REQUEST */
	bool no_keep;		/* close after this request whatever the flag */
	bool stdin_eof;

	unsigned char in[FCGI_IN_BUF];
	size_t in_pos;
	size_t in_len;
	size_t content_left;	/* of the current STDIN record */
	size_t padding_left;

	char *pbuf;		/* raw PARAMS stream */
	size_t plen;
	char *arena;		/* NUL-terminated names and values */
	struct fcgi_param *params;
	size_t nparams;
	size_t cparams;

	unsigned char out[FCGI_OUT_BUF];
	size_t out_len;
	char err[FCGI_ERR_BUF];	/* stderr: consecutive writes make one record */
	size_t err_len;
};

struct fcgi_header {
	unsigned char version;
	unsigned char type;
	uint16_t id;
	uint16_t clen;
	unsigned char plen;
};

struct fcgi_conn *
fcgi_conn_new(int fd)
{
	struct fcgi_conn *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	return c;
}

static void
reset_params(struct fcgi_conn *c)
{
	size_t i;

	for (i = 0; i < c->nparams; i++)
		if (c->params[i].owned)
			free((char *)c->params[i].value);
	c->nparams = 0;
	free(c->pbuf);
	c->pbuf = NULL;
	c->plen = 0;
	free(c->arena);
	c->arena = NULL;
}

void
fcgi_conn_free(struct fcgi_conn *c)
{
	if (c == NULL)
		return;
	reset_params(c);
	free(c->params);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int
fcgi_conn_fd(const struct fcgi_conn *c)
{
	return c->fd;
}

/* Bytes of a next request already read into our buffer (epoll cannot see them). */
bool
fcgi_buffered(const struct fcgi_conn *c)
{
	return c->in_pos < c->in_len;
}

/* The web server asked to keep the connection (FCGI_KEEP_CONN) and we agree. */
bool
fcgi_wants_keep(const struct fcgi_conn *c)
{
	return c->keep && !c->no_keep && !c->aborted;
}

/* This connection closes after the request (the process is retiring). */
void
fcgi_no_keep(struct fcgi_conn *c)
{
	c->no_keep = true;
}

bool
fcgi_request_ended(const struct fcgi_conn *c)
{
	return c->ended;
}

bool
fcgi_aborted(const struct fcgi_conn *c)
{
	return c->aborted;
}

bool
fcgi_has_request(const struct fcgi_conn *c)
{
	return c->in_request;
}

/* Read exactly len bytes; 0 ok, 1 EOF before any byte, -1 error/short. */
static int
read_full(struct fcgi_conn *c, void *dst, size_t len)
{
	unsigned char *p = dst;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (c->in_pos < c->in_len) {
			size_t take = c->in_len - c->in_pos;
			if (take > len - got)
				take = len - got;
			memcpy(p + got, c->in + c->in_pos, take);
			c->in_pos += take;
			got += take;
			continue;
		}
		/* Large reads bypass the buffer. */
		if (len - got >= sizeof c->in)
			n = read(c->fd, p + got, len - got);
		else {
			n = read(c->fd, c->in, sizeof c->in);
			if (n > 0) {
				c->in_pos = 0;
				c->in_len = (size_t)n;
				continue;
			}
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return got == 0 && n == 0 ? 1 : -1;
		got += (size_t)n;
	}
	return 0;
}

static int
skip(struct fcgi_conn *c, size_t len)
{
	unsigned char junk[256];

	while (len > 0) {
		size_t take = len > sizeof junk ? sizeof junk : len;
		if (read_full(c, junk, take) != 0)
			return -1;
		len -= take;
	}
	return 0;
}

static int
read_header(struct fcgi_conn *c, struct fcgi_header *h)
{
	unsigned char b[8];
	int rc;

	if ((rc = read_full(c, b, sizeof b)) != 0)
		return rc;
	h->version = b[0];
	h->type = b[1];
	h->id = (uint16_t)(b[2] << 8 | b[3]);
	h->clen = (uint16_t)(b[4] << 8 | b[5]);
	h->plen = b[6];
	return 0;
}

static void
put_header(unsigned char *b, int type, uint16_t id, size_t clen)
{
	b[0] = FCGI_VERSION_1;
	b[1] = (unsigned char)type;
	b[2] = (unsigned char)(id >> 8);
	b[3] = (unsigned char)id;
	b[4] = (unsigned char)(clen >> 8);
	b[5] = (unsigned char)clen;
	b[6] = 0;
	b[7] = 0;
}

static int
write_all(struct fcgi_conn *c, struct iovec *iov, int iovcnt)
{
	ssize_t n;

	if (c->aborted)
		return -1;
	while (iovcnt > 0) {
		n = writev(c->fd, iov, iovcnt);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->aborted = true;
			return -1;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
send_record(struct fcgi_conn *c, int type, uint16_t id, const void *data,
    size_t len)
{
	unsigned char h[8];
	struct iovec iov[2];

	put_header(h, type, id, len);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof h;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	return write_all(c, iov, len > 0 ? 2 : 1);
}

static int
send_end(struct fcgi_conn *c, uint16_t id, int app_status, int proto_status)
{
	unsigned char b[8] = { 0 };

	b[0] = (unsigned char)(app_status >> 24);
	b[1] = (unsigned char)(app_status >> 16);
	b[2] = (unsigned char)(app_status >> 8);
	b[3] = (unsigned char)app_status;
	b[4] = (unsigned char)proto_status;
	return send_record(c, FCGI_END_REQUEST, id, b, sizeof b);
}

/* Name-value pair lengths: one byte below 128, else four (high bit set). */
static int
nv_len(const unsigned char **p, const unsigned char *end, size_t *len)
{
	if (*p >= end)
		return -1;
	if (**p < 128) {
		*len = **p;
		(*p)++;
		return 0;
	}
	if (end - *p < 4)
		return -1;
	*len = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	*p += 4;
	return 0;
}

static int
parse_params(struct fcgi_conn *c, char **cause)
{
	static const unsigned char none[1];
	const unsigned char *p = c->pbuf != NULL ?
	    (const unsigned char *)c->pbuf : none;
	const unsigned char *end = p + c->plen;
	char *a;
	size_t nlen, vlen;

	/* Each pair has at least two length bytes: room for two NULs. */
	a = c->arena = xmalloc(c->plen + 2);
	if (c->cparams == 0) {
		c->cparams = 32;
		c->params = xreallocarray(NULL, c->cparams, sizeof *c->params);
	}
	/* php-fpm's environment starts with the role. */
	c->params[0].name = "FCGI_ROLE";
	c->params[0].nlen = 9;
	c->params[0].value = "RESPONDER";
	c->params[0].vlen = 9;
	c->params[0].owned = false;
	c->nparams = 1;
	while (p < end) {
		if (nv_len(&p, end, &nlen) == -1 || nv_len(&p, end, &vlen) == -1 ||
		    nlen > (size_t)(end - p) || vlen > (size_t)(end - p) - nlen) {
			xasprintf(cause, "malformed FastCGI params");
			return -1;
		}
		if (nlen == 0) {
			p += vlen;
			continue;
		}
		if (c->nparams == c->cparams) {
			c->cparams = c->cparams ? c->cparams * 2 : 32;
			c->params = xreallocarray(c->params, c->cparams,
			    sizeof *c->params);
		}
		memcpy(a, p, nlen);
		a[nlen] = '\0';
		c->params[c->nparams].name = a;
		c->params[c->nparams].nlen = nlen;
		a += nlen + 1;
		p += nlen;
		memcpy(a, p, vlen);
		a[vlen] = '\0';
		c->params[c->nparams].value = a;
		c->params[c->nparams].vlen = vlen;
		c->params[c->nparams].owned = false;
		c->nparams++;
		a += vlen + 1;
		p += vlen;
	}
	return 0;
}

static void
get_values_reply(struct fcgi_conn *c, const char *data, size_t len)
{
	static const char *const names[] = {
		"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"
	};
	static const char *const values[] = { "1", "1", "0" };
	unsigned char out[128];
	size_t olen = 0, i;

	for (i = 0; i < 3; i++) {
		size_t nl = strlen(names[i]), vl = strlen(values[i]);
		if (memmem(data, len, names[i], nl) == NULL)
			continue;
		out[olen++] = (unsigned char)nl;
		out[olen++] = (unsigned char)vl;
		memcpy(out + olen, names[i], nl);
		olen += nl;
		memcpy(out + olen, values[i], vl);
		olen += vl;
	}
	send_record(c, FCGI_GET_VALUES_RESULT, 0, out, olen);
}

/*
 * Read records until a request's params are complete.  0: a request is
 * ready; 1: the peer closed an idle connection; -1: protocol error or
 * lost peer (*cause says which); the connection must then be closed.
 */
int
fcgi_read_request(struct fcgi_conn *c, char **cause)
{
	struct fcgi_header h;
	unsigned char body[8];
	char small[256];
	int rc;

	reset_params(c);
	c->in_request = false;
	c->ended = false;
	c->aborted = false;
	c->abort_record = false;
	c->no_keep = false;
	c->stdin_eof = false;
	c->keep = false;
	c->content_left = c->padding_left = 0;
	c->out_len = 0;
	c->err_len = 0;

	for (;;) {
		if ((rc = read_header(c, &h)) != 0) {
			if (rc == 1 && !c->in_request)
				return 1;
			xasprintf(cause, "connection lost while reading request");
			return -1;
		}
		if (h.version != FCGI_VERSION_1) {
			xasprintf(cause, "bad FastCGI version %d", h.version);
			return -1;
		}
		switch (h.type) {
		case FCGI_BEGIN_REQUEST:
			if (h.clen != 8 || read_full(c, body, 8) != 0 ||
			    skip(c, h.plen) != 0) {
				xasprintf(cause, "malformed BEGIN_REQUEST");
				return -1;
			}
			if (c->in_request) {
				/* We do not multiplex. */
				send_end(c, h.id, 0, FCGI_CANT_MPX_CONN);
				continue;
			}
			if ((body[0] << 8 | body[1]) != FCGI_RESPONDER) {
				send_end(c, h.id, 0, FCGI_UNKNOWN_ROLE);
				continue;
			}
			c->in_request = true;
			c->req_id = h.id;
			c->keep = (body[2] & FCGI_KEEP_CONN) != 0;
			break;
		case FCGI_PARAMS:
			if (!c->in_request || h.id != c->req_id) {
				xasprintf(cause, "PARAMS record outside a request");
				return -1;
			}
			if (h.clen == 0) {
				if (skip(c, h.plen) != 0) {
					xasprintf(cause, "connection lost while reading params");
					return -1;
				}
				return parse_params(c, cause);
			}
			if (c->plen + h.clen > FCGI_PARAMS_MAX) {
				xasprintf(cause, "FastCGI params larger than %d bytes",
				    FCGI_PARAMS_MAX);
				return -1;
			}
			c->pbuf = xreallocarray(c->pbuf, c->plen + h.clen, 1);
			if (read_full(c, c->pbuf + c->plen, h.clen) != 0 ||
			    skip(c, h.plen) != 0) {
				xasprintf(cause, "connection lost while reading params");
				return -1;
			}
			c->plen += h.clen;
			break;
		case FCGI_GET_VALUES:
			if (h.clen > sizeof small || read_full(c, small, h.clen) != 0 ||
			    skip(c, h.plen) != 0) {
				xasprintf(cause, "malformed GET_VALUES");
				return -1;
			}
			get_values_reply(c, small, h.clen);
			break;
		case FCGI_ABORT_REQUEST:
			if (skip(c, (size_t)h.clen + h.plen) != 0) {
				xasprintf(cause, "connection lost");
				return -1;
			}
			if (c->in_request && h.id == c->req_id) {
				send_end(c, h.id, 0, FCGI_REQUEST_COMPLETE);
				reset_params(c);
				c->in_request = false;
				if (!c->keep) {
					xasprintf(cause, "request aborted by the web server");
					return -1;
				}
			}
			break;
		default:
			if (h.type == FCGI_STDIN || h.type == FCGI_DATA) {
				xasprintf(cause, "body record before params");
				return -1;
			}
			if (skip(c, (size_t)h.clen + h.plen) != 0) {
				xasprintf(cause, "connection lost");
				return -1;
			}
			memset(body, 0, sizeof body);
			body[0] = h.type;
			send_record(c, FCGI_UNKNOWN_TYPE, 0, body, sizeof body);
			break;
		}
	}
}

const char *
fcgi_param(struct fcgi_conn *c, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; i < c->nparams; i++)
		if (c->params[i].nlen == nlen &&
		    memcmp(c->params[i].name, name, nlen) == 0)
			return c->params[i].value;
	return NULL;
}

/* Replace, add (value non-NULL) or remove (NULL) a param, as php-fpm's putenv. */
void
fcgi_param_set(struct fcgi_conn *c, const char *name, const char *value)
{
	size_t nlen = strlen(name), i;
	char *v = value != NULL ? xstrdup(value) : NULL;

	for (i = 0; i < c->nparams; i++) {
		struct fcgi_param *p = &c->params[i];
		if (p->nlen != nlen || memcmp(p->name, name, nlen) != 0)
			continue;
		if (p->owned)
			free((char *)p->value);
		if (v == NULL) {
			memmove(p, p + 1, (c->nparams - i - 1) * sizeof *p);
			c->nparams--;
			return;
		}
		p->value = v;
		p->vlen = strlen(v);
		p->owned = true;
		return;
	}
	if (v == NULL)
		return;
	if (c->nparams == c->cparams) {
		c->cparams = c->cparams ? c->cparams * 2 : 32;
		c->params = xreallocarray(c->params, c->cparams, sizeof *c->params);
	}
	/* Names of added params are static strings of the caller. */
	c->params[c->nparams].name = name;
	c->params[c->nparams].nlen = nlen;
	c->params[c->nparams].value = v;
	c->params[c->nparams].vlen = strlen(v);
	c->params[c->nparams].owned = true;
	c->nparams++;
}

size_t
fcgi_param_count(const struct fcgi_conn *c)
{
	return c->nparams;
}

void
fcgi_param_at(const struct fcgi_conn *c, size_t i, const char **name,
    size_t *nlen, const char **value, size_t *vlen)
{
	*name = c->params[i].name;
	*nlen = c->params[i].nlen;
	*value = c->params[i].value;
	*vlen = c->params[i].vlen;
}

/* Read request body bytes: >0 bytes, 0 end of body, -1 lost peer. */
ssize_t
fcgi_read_body(struct fcgi_conn *c, char *buf, size_t len)
{
	struct fcgi_header h;
	size_t take;

	while (c->content_left == 0) {
		if (c->stdin_eof || c->aborted)
			return c->aborted ? -1 : 0;
		if (c->padding_left > 0) {
			if (skip(c, c->padding_left) != 0)
				goto lost;
			c->padding_left = 0;
		}
		if (read_header(c, &h) != 0 || h.version != FCGI_VERSION_1)
			goto lost;
		if (h.type == FCGI_ABORT_REQUEST && h.id == c->req_id) {
			skip(c, (size_t)h.clen + h.plen);
			c->abort_record = true;
			goto lost;
		}
		if (h.type == FCGI_BEGIN_REQUEST) {
			/* We do not multiplex. */
			if (skip(c, (size_t)h.clen + h.plen) != 0)
				goto lost;
			send_end(c, h.id, 0, FCGI_CANT_MPX_CONN);
			continue;
		}
		if (h.type != FCGI_STDIN || h.id != c->req_id) {
			/* Anything else mid-body is skipped, as the spec allows. */
			if (skip(c, (size_t)h.clen + h.plen) != 0)
				goto lost;
			continue;
		}
		c->content_left = h.clen;
		c->padding_left = h.plen;
		if (h.clen == 0) {
			if (skip(c, h.plen) != 0)
				goto lost;
			c->padding_left = 0;
			c->stdin_eof = true;
			return 0;
		}
	}
	take = len < c->content_left ? len : c->content_left;
	if (read_full(c, buf, take) != 0)
		goto lost;
	c->content_left -= take;
	return (ssize_t)take;
lost:
	c->aborted = true;
	return -1;
}

static int
flush_err(struct fcgi_conn *c)
{
	int rc;

	if (c->err_len == 0)
		return 0;
	rc = send_record(c, FCGI_STDERR, c->req_id, c->err, c->err_len);
	c->err_len = 0;
	return rc;
}

static int
flush_out(struct fcgi_conn *c)
{
	int rc;

	if (flush_err(c) == -1)
		return -1;
	if (c->out_len == 0)
		return c->aborted ? -1 : 0;
	rc = send_record(c, FCGI_STDOUT, c->req_id, c->out, c->out_len);
	c->out_len = 0;
	return rc;
}

/* Buffered STDOUT; large writes go straight out in 64 KiB records. */
int
fcgi_write(struct fcgi_conn *c, const char *data, size_t len)
{
	/* After fastcgi_finish_request() output goes nowhere, as in php-fpm. */
	if (c->ended)
		return 0;
	if (c->aborted)
		return -1;
	if (c->err_len > 0 && flush_out(c) == -1)
		return -1;
	if (len <= sizeof c->out - c->out_len) {
		memcpy(c->out + c->out_len, data, len);
		c->out_len += len;
		return 0;
	}
	if (flush_out(c) == -1)
		return -1;
	while (len >= sizeof c->out) {
		size_t chunk = len > 65535 ? 65535 : len;
		if (send_record(c, FCGI_STDOUT, c->req_id, data, chunk) == -1)
			return -1;
		data += chunk;
		len -= chunk;
	}
	memcpy(c->out, data, len);
	c->out_len = len;
	return 0;
}

int
fcgi_write_stderr(struct fcgi_conn *c, const char *data, size_t len)
{
	if (c->aborted || c->ended || !c->in_request)
		return -1;
	/* Keep the order of the two streams: stdout written so far goes first. */
	if (c->out_len > 0 && flush_out(c) == -1)
		return -1;
	while (len > 0) {
		size_t chunk = sizeof c->err - c->err_len;
		if (chunk > len)
			chunk = len;
		memcpy(c->err + c->err_len, data, chunk);
		c->err_len += chunk;
		data += chunk;
		len -= chunk;
		if (c->err_len == sizeof c->err && flush_err(c) == -1)
			return -1;
	}
	return 0;
}

int
fcgi_flush(struct fcgi_conn *c)
{
	if (c->ended)
		return 0;
	return flush_out(c);
}

/*
 * Before reusing a kept connection: read what is left of the body (the
 * script may not have read it), up to the empty STDIN record.
 */
int
fcgi_finish_input(struct fcgi_conn *c)
{
	char buf[8192];
	ssize_t n;

	while ((n = fcgi_read_body(c, buf, sizeof buf)) > 0)
		;
	return n == 0 ? 0 : -1;
}

/* Consume STDIN records already in our buffer, up to the body's end. */
static void
stdin_end_buffered(struct fcgi_conn *c)
{
	while (!c->stdin_eof && c->in_request && c->content_left == 0 &&
	    c->padding_left == 0 && c->in_len - c->in_pos >= 8) {
		const unsigned char *h = c->in + c->in_pos;
		size_t clen = (size_t)(h[4] << 8 | h[5]), plen = h[6];

		if (h[0] != FCGI_VERSION_1 || h[1] != FCGI_STDIN ||
		    (h[2] << 8 | h[3]) != c->req_id ||
		    c->in_len - c->in_pos < 8 + clen + plen)
			return;
		c->in_pos += 8 + clen + plen;
		if (clen == 0)
			c->stdin_eof = true;
	}
}

/*
 * Close like php-fpm: stop writing, then read whatever the peer still
 * sends (the empty STDIN record Apache may not have written yet) for a
 * short while, so it never sees a reset.
 */
void
fcgi_linger_close(struct fcgi_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	char buf[4096];
	int rounds = 0;

	if (c->fd < 0)
		return;
	/*
	 * Usually the body's end (the empty STDIN record) came with the
	 * params and sits in our buffer: then the peer has sent all it will
	 * and we need not wait for it.
	 */
	stdin_end_buffered(c);
	shutdown(c->fd, SHUT_WR);
	if (c->stdin_eof) {
		/* Only what already arrived: nothing more is coming. */
		while (recv(c->fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
	} else {
		while (rounds++ < 64 && poll(&pfd, 1, 200) == 1 &&
		    recv(c->fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
	}
	close(c->fd);
	c->fd = -1;
}

/*
 * A connection that will not be kept gets its FIN with END_REQUEST, so
 * nginx sees both at once and never caches it for another request.
 */
static int
end_written(struct fcgi_conn *c, int rc)
{
	if (rc == 0 && !fcgi_wants_keep(c))
		shutdown(c->fd, SHUT_WR);
	return rc;
}

/* Finish the request: remaining output, empty STDOUT, END_REQUEST. */
int
fcgi_end_request(struct fcgi_conn *c, int app_status)
{
	unsigned char tail[8 + 8 + 8];
	struct iovec iov[2];
	int n = 0;

	if (c->ended || !c->in_request)
		return 0;
	/*
	 * A kept connection: read the rest of the body now, before the web
	 * server may send its next request, which must stay in the socket
	 * (where epoll sees it), not in our buffer.
	 */
	if (fcgi_wants_keep(c) && !c->stdin_eof &&
	    fcgi_finish_input(c) == -1 && !c->abort_record) {
		/* The body was cut: answer if the peer still reads, never keep. */
		c->aborted = false;
		c->no_keep = true;
	}
	c->ended = true;
	if (c->abort_record) {
		/* The spec wants an END_REQUEST for an aborted request too. */
		c->aborted = false;
		send_end(c, c->req_id, app_status, FCGI_REQUEST_COMPLETE);
		c->aborted = true;	/* the request itself failed */
		return -1;
	}
	if (c->aborted || flush_err(c) == -1)
		return -1;
	put_header(tail, FCGI_STDOUT, c->req_id, 0);
	put_header(tail + 8, FCGI_END_REQUEST, c->req_id, 8);
	memset(tail + 16, 0, 8);
	tail[16] = (unsigned char)(app_status >> 24);
	tail[17] = (unsigned char)(app_status >> 16);
	tail[18] = (unsigned char)(app_status >> 8);
	tail[19] = (unsigned char)app_status;
	if (c->out_len > 0) {
		unsigned char h[8];
		struct iovec all[3];
		put_header(h, FCGI_STDOUT, c->req_id, c->out_len);
		all[0].iov_base = h;
		all[0].iov_len = 8;
		all[1].iov_base = c->out;
		all[1].iov_len = c->out_len;
		all[2].iov_base = tail;
		all[2].iov_len = sizeof tail;
		c->out_len = 0;
		return end_written(c, write_all(c, all, 3));
	}
	iov[n].iov_base = tail;
	iov[n++].iov_len = sizeof tail;
	return end_written(c, write_all(c, iov, n));
}
