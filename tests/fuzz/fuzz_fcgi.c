/*
 * libFuzzer target for src/fcgi.c: the input bytes are what a web server
 * sends on one connection.  A helper thread writes them into a
 * socketpair (and drains whatever fcgi.c answers, so neither side can
 * block the other); this thread serves requests the way worker.c does:
 * fcgi_read_request(), the params, fcgi_read_body() (or not), some
 * output, fcgi_end_request(), fcgi_finish_input(), again while the
 * connection is kept, and fcgi_linger_close() at the end.
 */
#include "pfpm.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct peer {
	int fd;
	const uint8_t *data;
	size_t len;
};

/* The web server: write everything, half-close, read until fcgi.c closes. */
static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	size_t off = 0;
	char junk[65536];
	bool shut = false;

	for (;;) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		ssize_t n;

		if (off < p->len)
			pfd.events |= POLLOUT;
		else if (!shut) {
			shutdown(p->fd, SHUT_WR);
			shut = true;
		}
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents & POLLOUT) {
			n = write(p->fd, p->data + off, p->len - off);
			if (n <= 0)
				off = p->len;	/* fcgi.c gave up: stop writing */
			else
				off += (size_t)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(p->fd, junk, sizeof junk);
			if (n <= 0 && off >= p->len)
				break;
			if (n <= 0)
				off = p->len;
		}
	}
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_open("/dev/null", &cause);
	return 0;
}

static void
serve(struct fcgi_conn *c)
{
	char body[1000], *cause;
	const char *name, *value;
	size_t nlen, vlen, i, n;
	ssize_t r = 0;
	int requests;
	volatile unsigned sum = 0;

	for (requests = 0; requests < 1000; requests++) {
		cause = NULL;
		if (fcgi_read_request(c, &cause) != 0) {
			free(cause);
			return;
		}
		/*
		 * What the SAPI does with the params: walk every byte (ASan
		 * checks they are valid) and rely on the NUL after each.
		 */
		n = fcgi_param_count(c);
		for (i = 0; i < n; i++) {
			size_t k;
			fcgi_param_at(c, i, &name, &nlen, &value, &vlen);
			for (k = 0; k < nlen; k++)
				sum += (unsigned char)name[k];
			for (k = 0; k < vlen; k++)
				sum += (unsigned char)value[k];
			if (name[nlen] != '\0' || value[vlen] != '\0')
				abort();
			if (fcgi_param(c, name, nlen) == NULL)
				abort();
		}
		(void)fcgi_param(c, "SCRIPT_FILENAME", 15);
		fcgi_param_set(c, "SCRIPT_NAME", "/index.php");
		fcgi_param_set(c, "PATH_INFO", NULL);
		fcgi_param_set(c, "SCRIPT_NAME", "/again.php");
		if (n > 0) {
			fcgi_param_at(c, 0, &name, &nlen, &value, &vlen);
			if (nlen < 64) {
				char copy[64];
				memcpy(copy, name, nlen);
				copy[nlen] = '\0';
				fcgi_param_set(c, copy, NULL);
			}
		}
		/* Read half of the requests' bodies; finish_input does the rest. */
		while ((requests & 1) == 0 &&
		    (r = fcgi_read_body(c, body, sizeof body)) > 0)
			if ((size_t)r > sizeof body)
				abort();
		fcgi_write(c, "Status: 200\r\n\r\n", 15);
		fcgi_write(c, body, sizeof body);
		fcgi_write_stderr(c, "e", 1);
		fcgi_end_request(c, 0);
		/* As worker_done(): keep only a clean, finished connection. */
		if (r < 0 || !fcgi_wants_keep(c) || fcgi_finish_input(c) != 0)
			return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	struct peer p;
	pthread_t t;
	struct fcgi_conn *c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	p.fd = sv[1];
	p.data = data;
	p.len = size;
	if (pthread_create(&t, NULL, peer_main, &p) != 0)
		abort();
	c = fcgi_conn_new(sv[0]);
	serve(c);
	fcgi_linger_close(c);	/* closes sv[0]: the peer's read sees EOF */
	fcgi_conn_free(c);
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
