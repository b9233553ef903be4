/*
 * Unit tests for src/sapi.c: FastCGI params in, $_SERVER/$_GET/$_POST/
 * $_COOKIE and status out, through the real engine.  A request is written
 * into a socketpair, served by sapi_handle() and its records read back.
 */
#include "pfpm.h"

#include <sys/socket.h>

#include <limits.h>

#include "fcgi_peer.h"

static struct pool_conf pool;
static char doc[PATH_MAX];	/* the fixtures, without ".." (refused by the SAPI) */

/* doc + suffix, in one of a few rotating buffers (several per request). */
static const char *
at(const char *pre, const char *suffix)
{
	static char bufs[8][PATH_MAX + 64];
	static int n;
	char *b = bufs[n++ % 8];

	snprintf(b, sizeof bufs[0], "%s%s%s", pre, doc, suffix);
	return b;
}

/* Serve one request given as NULL-terminated name/value pairs; the stdout. */
static char *
serve(const char *const *kv, const char *body)
{
	struct buf w = { 0 }, st = { 0 }, out = { 0 };
	struct fcgi_conn *c;
	struct record r;
	char *cause = NULL;
	int sv[2];
	size_t i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (i = 0; kv[i] != NULL; i += 2)
		nv(&st, kv[i], kv[i + 1]);
	begin(&w, 1, ROLE_RESPONDER, 0);
	params(&w, 1, &st, 4096, 0);
	stdin_recs(&w, 1, body, strlen(body), 4096, 0);
	ck_assert_int_eq(write(sv[1], w.p, w.len), (ssize_t)w.len);
	c = fcgi_conn_new(sv[0]);
	ck_assert_int_eq(fcgi_read_request(c, &cause), 0);
	sapi_handle(c, NULL);
	fcgi_conn_free(c);
	for (;;) {
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		if (r.type == T_STDOUT)
			buf_add(&out, r.content, r.clen);
		if (r.type == T_END_REQUEST) {
			rec_free(&r);
			break;
		}
		rec_free(&r);
	}
	buf_add(&out, "", 1);
	close(sv[1]);
	buf_free(&w);
	buf_free(&st);
	return (char *)out.p;
}

#define HAS(out, s) ck_assert_msg(strstr((out), (s)) != NULL, \
	"expected \"%s\" in:\n%s", (s), (out))

START_TEST(test_nginx_params)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("", "/unit_server.php"),
		"SCRIPT_NAME", "/unit_server.php",
		"PATH_INFO", "/extra",
		"REQUEST_URI", "/unit_server.php/extra?a=1&b[]=2",
		"QUERY_STRING", "a=1&b[]=2",
		"DOCUMENT_ROOT", at("", ""),
		"HTTP_X_TEST", "yes",
		NULL
	};
	char *out = serve(kv, "");

	HAS(out, at("\nSCRIPT_FILENAME=", "/unit_server.php\n"));
	HAS(out, "\nPHP_SELF=/unit_server.php/extra\n");
	HAS(out, "\nPATH_INFO=/extra\n");
	HAS(out, "\nGET={\"a\":\"1\",\"b\":[\"2\"]}\n");
	HAS(out, "\nHTTP_X_TEST=yes\n");
	HAS(out, "\nFCGI_ROLE=RESPONDER\n");
	HAS(out, "\nENV_FCGI_ROLE=RESPONDER\n");
	HAS(out, "\nORIG_SCRIPT_FILENAME=-\n");
	free(out);
}
END_TEST

/* Apache's ProxyPass: a URL in SCRIPT_FILENAME, path info inside it. */
START_TEST(test_apache_proxy_pathinfo)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("proxy:fcgi://127.0.0.1:9000",
		    "/unit_server.php/extra/path?q=1"),
		"SCRIPT_NAME", "/unit_server.php/extra/path",
		"REQUEST_URI", "/unit_server.php/extra/path?q=1",
		"QUERY_STRING", "q=1",
		"DOCUMENT_ROOT", at("", ""),
		NULL
	};
	char *out = serve(kv, "");

	HAS(out, at("\nSCRIPT_FILENAME=", "/unit_server.php\n"));
	HAS(out, at("\nORIG_SCRIPT_FILENAME=", "/unit_server.php/extra/path\n"));
	HAS(out, "\nSCRIPT_NAME=/unit_server.php\n");
	HAS(out, "\nORIG_SCRIPT_NAME=/unit_server.php/extra/path\n");
	HAS(out, "\nPATH_INFO=/extra/path\n");
	HAS(out, at("\nPATH_TRANSLATED=", "/extra/path\n"));
	HAS(out, "\nPHP_SELF=/unit_server.php/extra/path\n");
	HAS(out, "\nGET={\"q\":\"1\"}\n");
	free(out);
}
END_TEST

START_TEST(test_missing_script_404)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("", "/no-such-script.php"),
		NULL
	};
	char *out = serve(kv, "");

	ck_assert_msg(strncmp(out, "Status: 404 Not Found\r\n", 23) == 0, "%s", out);
	HAS(out, "\r\n\r\nFile not found.\n");
	free(out);
}
END_TEST

START_TEST(test_limit_extensions_403)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("", "/foo.txt"),
		NULL
	};
	char *out = serve(kv, "");

	ck_assert_msg(strncmp(out, "Status: 403 Forbidden\r\n", 23) == 0, "%s", out);
	HAS(out, "\r\n\r\nAccess denied.\n");
	free(out);
}
END_TEST

/* "/.." segments are refused whatever the file system says. */
START_TEST(test_dotdot_refused)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("", "/../php/unit_server.php"),
		NULL
	};
	char *out = serve(kv, "");

	ck_assert_msg(strncmp(out, "Status: 404", 11) == 0, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_post_cookies_auth)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "POST",
		"SCRIPT_FILENAME", at("", "/unit_server.php"),
		"CONTENT_TYPE", "application/x-www-form-urlencoded",
		"CONTENT_LENGTH", "16",
		"HTTP_COOKIE", "a=1; b[c]=2",
		"HTTP_AUTHORIZATION", "Basic dXNlcjpwYXNz",
		NULL
	};
	char *out = serve(kv, "x=1&y=%C3%A9&z=");

	HAS(out, "\nPOST={\"x\":\"1\",\"y\":\"\\u00e9\",\"z\":\"\"}\n");
	HAS(out, "\nCOOKIE={\"a\":\"1\",\"b\":{\"c\":\"2\"}}\n");
	HAS(out, "\nPHP_AUTH_USER=user\n");
	HAS(out, "\nPHP_AUTH_PW=pass\n");
	free(out);
}
END_TEST

/* PHP_VALUE from the web server is ignored unless the pool allows it. */
START_TEST(test_php_value_ignored_by_default)
{
	const char *const kv[] = {
		"REQUEST_METHOD", "GET",
		"SCRIPT_FILENAME", at("", "/unit_server.php"),
		"PHP_VALUE", "precision=5",
		NULL
	};
	char *out;

	pool.allow_fcgi_ini = false;
	out = serve(kv, "");
	HAS(out, "\nprecision=14\n");
	free(out);
	pool.allow_fcgi_ini = true;
	out = serve(kv, "");
	HAS(out, "\nprecision=5\n");
	free(out);
	pool.allow_fcgi_ini = false;
}
END_TEST

static Suite *
sapi_suite(void)
{
	Suite *s = suite_create("sapi");
	TCase *tc = tcase_create("params");

	tcase_add_test(tc, test_nginx_params);
	tcase_add_test(tc, test_apache_proxy_pathinfo);
	tcase_add_test(tc, test_missing_script_404);
	tcase_add_test(tc, test_limit_extensions_403);
	tcase_add_test(tc, test_dotdot_refused);
	tcase_add_test(tc, test_post_cookies_auth);
	tcase_add_test(tc, test_php_value_ignored_by_default);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	static char *exts[] = { (char *)".php" };
	char ini[] = "/tmp/pfpm-check-sapi-XXXXXX";
	char *cause = NULL;
	SRunner *sr;
	int fd, failed;

	if (realpath(SRC_DIR "/tests/fixtures/php", doc) == NULL)
		return 1;
	/* A known php.ini and no extension scan: the test sees the engine only. */
	setenv("PHP_INI_SCAN_DIR", "", 1);
	if ((fd = mkstemp(ini)) == -1)
		return 1;
	dprintf(fd, "html_errors=0\ndisplay_errors=1\nexpose_php=0\nprecision=14\n");
	close(fd);
	log_set_level(LOG_LVL_ALERT);
	if (sapi_engine_start(ini, &cause) == -1) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}
	pool.name = (char *)"test";
	pool.limit_extensions = exts;
	pool.n_limit_extensions = 1;
	sapi_worker_init(&pool, &cause);
	sr = srunner_create(sapi_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	sapi_engine_stop();
	unlink(ini);
	return failed == 0 ? 0 : 1;
}
