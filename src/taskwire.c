/*
 * The frames between a pool's processes and the master's task queue (see
 * pfpm.h).  Both ends are processes of one pfpm, on one machine: integers
 * travel in host order.
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The pool's abstract socket address: "\0pfpm.<master pid>.<pool>". */
int
tq_socket_name(pid_t master, const char *pool, void *addr, size_t *len)
{
	struct sockaddr_un *sun = addr;
	int n;

	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, "pfpm.%d.%s",
	    (int)master, pool);
	if (n < 0 || (size_t)n >= sizeof sun->sun_path - 1)
		return -1;
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n;
	return 0;
}

/* Append one frame (header and up to three parts) at `off`; the new length. */
size_t
tq_encode(char **buf, size_t *cap, size_t off, uint8_t type, uint8_t qlen,
    const void *a, size_t alen, const void *b, size_t blen, const void *c,
    size_t clen)
{
	struct tq_hdr h = { .len = (uint32_t)(alen + blen + clen), .type = type,
	    .qlen = qlen };
	size_t need = off + sizeof h + alen + blen + clen;

	if (need > *cap) {
		size_t ncap = *cap == 0 ? 4096 : *cap;
		while (ncap < need)
			ncap *= 2;
		*buf = xreallocarray(*buf, ncap, 1);
		*cap = ncap;
	}
	memcpy(*buf + off, &h, sizeof h);
	off += sizeof h;
	if (alen > 0)
		memcpy(*buf + off, a, alen);
	off += alen;
	if (blen > 0)
		memcpy(*buf + off, b, blen);
	off += blen;
	if (clen > 0)
		memcpy(*buf + off, c, clen);
	return off + clen;
}

/*
 * Read what the fd has (non-blocking).  >0 bytes read, 0 end of file, -1
 * error (EAGAIN: nothing now).
 */
ssize_t
tq_fill(struct tq_reader *r, int fd)
{
	ssize_t n;

	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->cap - r->len < 65536) {
		r->cap = r->cap == 0 ? 65536 : r->cap * 2;
		r->buf = xreallocarray(r->buf, r->cap, 1);
	}
	while ((n = read(fd, r->buf + r->len, r->cap - r->len)) == -1 &&
	    errno == EINTR)
		;
	if (n > 0)
		r->len += (size_t)n;
	return n;
}

/*
 * The first complete frame: 1 with *h and *body set, 0 when incomplete,
 * -1 when the frame is longer than r->max (protocol error: drop the peer).
 */
int
tq_frame(struct tq_reader *r, struct tq_hdr *h, const char **body)
{
	size_t avail = r->len - r->off;

	if (avail < sizeof *h)
		return 0;
	memcpy(h, r->buf + r->off, sizeof *h);
	if (r->max > 0 && h->len > r->max)
		return -1;
	if (avail - sizeof *h < h->len)
		return 0;
	*body = r->buf + r->off + sizeof *h;
	return 1;
}

/* Drop the frame tq_frame() returned. */
void
tq_consume(struct tq_reader *r, const struct tq_hdr *h)
{
	r->off += sizeof *h + h->len;
	if (r->off == r->len)
		r->off = r->len = 0;
}

void
tq_reader_free(struct tq_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->off = r->len = r->cap = 0;
}
