/*
 * pfpm's SAPI: the PHP engine embedded as "fpm-fcgi".  The master starts
 * the engine once (so opcache's shared memory is created before any fork
 * and shared by every worker) and never runs PHP code; workers run one
 * request at a time through the callbacks below.
 */
#include "pfpm.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <php.h>
#include <php_main.h>
#include <php_variables.h>
#include <php_ini.h>
#include <SAPI.h>
#include <zend_ini.h>
#include <zend_ini_scanner.h>
#include <zend_signal.h>
#include <zend_exceptions.h>
#include <ext/standard/php_standard.h>
#include <ext/standard/url.h>
#include <ext/standard/dl.h>
#include <ext/standard/basic_functions.h>
#include <php_memory_streams.h>
#include <php_output.h>
#include <http_status_codes.h>

#include "php_api.h"

#define SAPI_HEADER_MAX 1024

static struct fcgi_conn *cur;		/* the request being served */
static const struct pool_conf *cur_pool;
static bool engine_up;

static struct {
	bool fix_pathinfo;
	bool discard_path;
	bool script_path_encoded;
	bool logging;
	bool log_started;
} cgi = { true, false, true, true, false };

static void (*engine_import_env)(zval *);

/* The parts of the FastCGI environment the SAPI reads. */
static char *
param(const char *name)
{
	return cur != NULL ? (char *)fcgi_param(cur, name, strlen(name)) : NULL;
}

static char *
param_set(const char *name, const char *value)
{
	fcgi_param_set(cur, name, value);
	return value != NULL ? param(name) : NULL;
}

static bool worker_mode;

/*
 * The client is gone.  Classic mode: php-fpm's behaviour (bail out unless
 * ignore_user_abort).  Worker mode: a bailout would cost the booted
 * application, so the request unwinds as exit() does instead.
 */
static void
connection_lost(void)
{
	if (!worker_mode) {
		php_handle_aborted_connection();
		return;
	}
	PG(connection_status) = PHP_CONNECTION_ABORTED;
	php_output_set_status(PHP_OUTPUT_DISABLED);
	if (!PG(ignore_user_abort) && EG(current_execute_data) != NULL &&
	    EG(exception) == NULL)
		zend_throw_unwind_exit();
}

static size_t
sapi_pfpm_ub_write(const char *str, size_t len)
{
	if (cur == NULL)	/* outside a request (a worker's boot): nowhere */
		return len;
	if (fcgi_write(cur, str, len) == -1) {
		connection_lost();
		return 0;
	}
	return len;
}

static void
sapi_pfpm_flush(void *ctx)
{
	if (ctx == NULL || cur == NULL)
		return;
	sapi_send_headers();
	if (fcgi_flush(cur) == -1)
		connection_lost();
}

#define WRITE_H(s, l) sapi_pfpm_ub_write((s), (l))

/* CGI response headers, with the Status line php-fpm sends. */
static int
sapi_pfpm_send_headers(sapi_headers_struct *headers)
{
	char buf[SAPI_HEADER_MAX];
	sapi_header_struct *h;
	zend_llist_position pos;
	bool ignore_status = false;
	int status = SG(sapi_headers).http_response_code;
	int len;

	if (SG(request_info).no_headers == 1)
		return SAPI_HEADER_SENT_SUCCESSFULLY;
	if (status != 200) {
		const char *line = SG(sapi_headers).http_status_line, *sp;
		bool has_status = false;

		if (line != NULL && (sp = strchr(line, ' ')) != NULL &&
		    sp - line >= 5 && strncasecmp(line, "HTTP/", 5) == 0) {
			len = snprintf(buf, sizeof buf, "Status:%s", sp);
			status = atoi(sp + 1);
		} else {
			for (h = zend_llist_get_first_ex(&headers->headers, &pos);
			    h != NULL; h = zend_llist_get_next_ex(&headers->headers, &pos)) {
				if (h->header_len > 7 &&
				    strncasecmp(h->header, "Status:", 7) == 0) {
					has_status = true;
					break;
				}
			}
			if (!has_status) {
				const http_response_status_code_pair *e;
				for (e = http_status_map; e->code != 0; e++)
					if (e->code == status)
						break;
				if (e->str != NULL)
					len = snprintf(buf, sizeof buf, "Status: %d %s",
					    status, e->str);
				else
					len = snprintf(buf, sizeof buf, "Status: %d",
					    status);
			}
		}
		if (!has_status) {
			if (len < 0)
				len = 0;
			if ((size_t)len >= sizeof buf)
				len = sizeof buf - 1;
			WRITE_H(buf, (size_t)len);
			WRITE_H("\r\n", 2);
			ignore_status = true;
		}
	}
	for (h = zend_llist_get_first_ex(&headers->headers, &pos); h != NULL;
	    h = zend_llist_get_next_ex(&headers->headers, &pos)) {
		if (h->header_len == 0)
			continue;
		if (h->header_len > 7 && strncasecmp(h->header, "Status:", 7) == 0) {
			if (!ignore_status) {
				ignore_status = true;
				WRITE_H(h->header, h->header_len);
				WRITE_H("\r\n", 2);
			}
		} else if (status == 304 && h->header_len > 13 &&
		    strncasecmp(h->header, "Content-Type:", 13) == 0) {
			continue;
		} else {
			WRITE_H(h->header, h->header_len);
			WRITE_H("\r\n", 2);
		}
	}
	WRITE_H("\r\n", 2);
	return SAPI_HEADER_SENT_SUCCESSFULLY;
}

static size_t
sapi_pfpm_read_post(char *buf, size_t count)
{
	size_t remaining = (size_t)SG(request_info).content_length -
	    SG(read_post_bytes);
	size_t got = 0;
	ssize_t n;

	if (cur == NULL)
		return 0;
	if (remaining < count)
		count = remaining;
	while (got < count) {
		n = fcgi_read_body(cur, buf + got, count - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static char *
sapi_pfpm_read_cookies(void)
{
	return param("HTTP_COOKIE");
}

static char *
sapi_pfpm_getenv(const char *name, size_t len)
{
	if (cur == NULL)
		return getenv(name);
	return (char *)fcgi_param(cur, name, len);
}

/* FastCGI params become $_SERVER (and $_ENV) entries, as under php-fpm. */
static void
load_params(zval *arr, bool filtered)
{
	int arg = Z_ARR_P(arr) == Z_ARR(PG(http_globals)[TRACK_VARS_ENV]) ?
	    PARSE_ENV : PARSE_SERVER;
	const char *name, *value;
	size_t nlen, vlen, i, n = cur != NULL ? fcgi_param_count(cur) : 0;

	for (i = 0; i < n; i++) {
		char *v;
		size_t new_len;

		fcgi_param_at(cur, i, &name, &nlen, &value, &vlen);
		v = (char *)value;
		if (!filtered) {
			php_register_variable_safe(name, v, vlen, arr);
			continue;
		}
		if (sapi_module.input_filter(arg, name, &v, strlen(v), &new_len))
			php_register_variable_safe(name, v, new_len, arr);
	}
}

static void
import_env(zval *arr)
{
	if (Z_TYPE(PG(http_globals)[TRACK_VARS_ENV]) == IS_ARRAY &&
	    Z_ARR_P(arr) != Z_ARR(PG(http_globals)[TRACK_VARS_ENV]) &&
	    zend_hash_num_elements(Z_ARRVAL(PG(http_globals)[TRACK_VARS_ENV])) > 0) {
		zend_array_destroy(Z_ARR_P(arr));
		Z_ARR_P(arr) = zend_array_dup(Z_ARR(PG(http_globals)[TRACK_VARS_ENV]));
		return;
	}
	if (Z_TYPE(PG(http_globals)[TRACK_VARS_SERVER]) == IS_ARRAY &&
	    Z_ARR_P(arr) != Z_ARR(PG(http_globals)[TRACK_VARS_SERVER]) &&
	    zend_hash_num_elements(Z_ARRVAL(PG(http_globals)[TRACK_VARS_SERVER])) > 0) {
		zend_array_destroy(Z_ARR_P(arr));
		Z_ARR_P(arr) = zend_array_dup(Z_ARR(PG(http_globals)[TRACK_VARS_SERVER]));
		return;
	}
	engine_import_env(arr);
	load_params(arr, true);
}

static void
load_env(zval *arr)
{
	engine_import_env(arr);
	load_params(arr, false);
}

static void
sapi_pfpm_register_variables(zval *track)
{
	char *self;
	size_t len;

	php_import_environment_variables(track);
	if (cgi.fix_pathinfo) {
		const char *sn = SG(request_info).request_uri;
		const char *pi = param("PATH_INFO");
		size_t snl = sn != NULL ? strlen(sn) : 0;
		size_t pil = pi != NULL ? strlen(pi) : 0;

		len = snl + pil;
		self = emalloc(len + 1);
		memcpy(self, sn != NULL ? sn : "", snl);
		memcpy(self + snl, pi != NULL ? pi : "", pil);
		self[len] = '\0';
		if (sapi_module.input_filter(PARSE_SERVER, "PHP_SELF", &self, len, &len))
			php_register_variable_safe("PHP_SELF", self, len, track);
		efree(self);
	} else {
		self = SG(request_info).request_uri != NULL ?
		    SG(request_info).request_uri : (char *)"";
		len = strlen(self);
		if (sapi_module.input_filter(PARSE_SERVER, "PHP_SELF", &self, len, &len))
			php_register_variable_safe("PHP_SELF", self, len, track);
	}
}

static void request_log(int, const char *, ...) PRINTFLIKE(2, 3);

/*
 * A message about the current request: pfpm's log, and (fastcgi.logging)
 * the web server's error log through FastCGI stderr, all of a request's
 * messages separated by "; " as php-fpm sends them.
 */
static void
request_log(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(level, msg);
	if (cgi.logging && cur != NULL && fcgi_has_request(cur) &&
	    !fcgi_request_ended(cur)) {
		if (cgi.log_started)
			fcgi_write_stderr(cur, "; ", 2);
		cgi.log_started = true;
		fcgi_write_stderr(cur, msg, strlen(msg));
	}
}

/* PHP's error_log when unset. */
static void
sapi_pfpm_log_message(const char *message, int syslog_type)
{
	(void)syslog_type;
	request_log(LOG_LVL_NOTICE, "PHP message: %s", message);
}

static int
sapi_pfpm_deactivate(void)
{
	/*
	 * Complete the response as soon as the output is final, once the
	 * tasks the request delivered are stored.
	 */
	task_client_sync();
	if (SG(sapi_started) && cur != NULL && fcgi_has_request(cur))
		fcgi_end_request(cur, 0);
	return SUCCESS;
}

static int sapi_pfpm_startup(sapi_module_struct *);

static sapi_module_struct pfpm_sapi = {
	"fpm-fcgi",			/* opcache only starts for known names */
	"pfpm/FastCGI",
	sapi_pfpm_startup,
	php_module_shutdown_wrapper,
	NULL,				/* activate */
	sapi_pfpm_deactivate,
	sapi_pfpm_ub_write,
	sapi_pfpm_flush,
	NULL,				/* get uid */
	sapi_pfpm_getenv,
	php_error,
	NULL,				/* header handler */
	sapi_pfpm_send_headers,
	NULL,				/* send header */
	sapi_pfpm_read_post,
	sapi_pfpm_read_cookies,
	sapi_pfpm_register_variables,
	sapi_pfpm_log_message,
	NULL,				/* get request time */
	NULL,				/* terminate process */
	STANDARD_SAPI_MODULE_PROPERTIES
};

static ZEND_INI_MH(on_bool)
{
	bool *p = (bool *)mh_arg1;

	(void)entry; (void)mh_arg2; (void)mh_arg3; (void)stage;
	*p = zend_ini_parse_bool(new_value);
	return SUCCESS;
}

PHP_INI_BEGIN()
	ZEND_INI_ENTRY1("cgi.fix_pathinfo", "1", PHP_INI_SYSTEM, on_bool, &cgi.fix_pathinfo)
	ZEND_INI_ENTRY1("cgi.discard_path", "0", PHP_INI_SYSTEM, on_bool, &cgi.discard_path)
	ZEND_INI_ENTRY1("fastcgi.script_path_encoded", "1", PHP_INI_SYSTEM, on_bool, &cgi.script_path_encoded)
	ZEND_INI_ENTRY1("fastcgi.logging", "1", PHP_INI_SYSTEM, on_bool, &cgi.logging)
PHP_INI_END()

static PHP_MINIT_FUNCTION(pfpm)
{
	(void)type;
	REGISTER_INI_ENTRIES();
	return SUCCESS;
}

static PHP_MSHUTDOWN_FUNCTION(pfpm)
{
	(void)type;
	UNREGISTER_INI_ENTRIES();
	return SUCCESS;
}

static PHP_MINFO_FUNCTION(pfpm)
{
	(void)zend_module;
	php_info_print_table_start();
	php_info_print_table_row(2, "pfpm", "active");
	php_info_print_table_end();
	DISPLAY_INI_ENTRIES();
}

static zend_module_entry pfpm_module_entry = {
	STANDARD_MODULE_HEADER,
	"cgi-fcgi",			/* extension_loaded('cgi-fcgi') as php-fpm */
	NULL,
	PHP_MINIT(pfpm),
	PHP_MSHUTDOWN(pfpm),
	NULL,
	NULL,
	PHP_MINFO(pfpm),
	PACKAGE_VERSION,
	STANDARD_MODULE_PROPERTIES
};

static int
sapi_pfpm_startup(sapi_module_struct *m)
{
	pfpm_module_entry.functions = php_api_functions();
	return php_module_startup(m, &pfpm_module_entry);
}

/* Start the engine in the master: php.ini, extensions, opcache SHM. */
int
sapi_engine_start(const char *php_ini, char **cause)
{
	if (engine_up)
		return 0;
#ifdef ZEND_SIGNALS
	zend_signal_startup();
#endif
	sapi_startup(&pfpm_sapi);
	pfpm_sapi.php_ini_ignore_cwd = 1;
	if (php_ini != NULL)
		pfpm_sapi.php_ini_path_override = strdup(php_ini);
	pfpm_sapi.executable_location = NULL;
	if (pfpm_sapi.startup(&pfpm_sapi) == FAILURE) {
		xasprintf(cause, "the PHP engine failed to start (php.ini %s)",
		    php_ini != NULL ? php_ini : "default");
		sapi_shutdown();
		return -1;
	}
	engine_import_env = php_import_environment_variables;
	php_import_environment_variables = import_env;
	php_load_environment_variables = load_env;
	engine_up = true;
	return 0;
}

void
sapi_engine_stop(void)
{
	if (!engine_up)
		return;
	php_module_shutdown();
	sapi_shutdown();
	free(pfpm_sapi.php_ini_path_override);
	pfpm_sapi.php_ini_path_override = NULL;
	engine_up = false;
}

const char *
sapi_php_version(void)
{
	return PHP_VERSION;
}

/* The charset PHP appends to a text/ Content-Type (default_charset). */
const char *
sapi_default_charset(void)
{
	if (!engine_up)
		return "UTF-8";
	if (PG(internal_encoding) != NULL && PG(internal_encoding)[0] != '\0')
		return PG(internal_encoding);
	if (SG(default_charset) != NULL && SG(default_charset)[0] != '\0')
		return SG(default_charset);
	return NULL;
}

/* expose_php: PHP's X-Powered-By header on every response. */
bool
sapi_expose_php(void)
{
	return engine_up && PG(expose_php);
}

/*
 * Set an ini value as the worker's new default, as php-fpm does for
 * php_value/php_admin_value: admin values become PHP_INI_SYSTEM so that
 * ini_set() cannot change them.
 */
static int
ini_set_master(const char *name, const char *value, bool admin)
{
	zend_ini_entry *e;
	zend_string *v;

	/* These act at engine start; php-fpm applies them per pool by hand. */
	if (strcmp(name, "extension") == 0)
		return php_load_extension(value, MODULE_PERSISTENT, 1) == SUCCESS ?
		    0 : -1;
	if (strcmp(name, "disable_functions") == 0)
		zend_disable_functions(value);
	if (strcmp(name, "disable_classes") == 0) {
		char *copy = estrdup(value), *tok, *save;
		for (tok = strtok_r(copy, ", ", &save); tok != NULL;
		    tok = strtok_r(NULL, ", ", &save))
			zend_disable_class(tok, strlen(tok));
		efree(copy);
	}

	if ((e = zend_hash_str_find_ptr(EG(ini_directives), name,
	    strlen(name))) == NULL)
		return -1;
	v = zend_string_init(value, strlen(value), 1);
	if (e->on_modify != NULL && e->on_modify(e, v, e->mh_arg1, e->mh_arg2,
	    e->mh_arg3, ZEND_INI_STAGE_ACTIVATE) != SUCCESS) {
		zend_string_release_ex(v, 1);
		return -1;
	}
	e->value = v;
	if (admin)
		e->modifiable = ZEND_INI_SYSTEM;
	return 0;
}

static void
pool_ini_entry(zval *key, zval *value, zval *unused, int type, void *arg)
{
	const struct conf_kv *kv = ((void **)arg)[0];
	bool admin = *(bool *)((void **)arg)[1];

	(void)unused;
	(void)key;
	if (type != ZEND_INI_PARSER_ENTRY || value == NULL)
		return;
	if (ini_set_master(kv->key, Z_STRVAL_P(value), admin) == -1)
		log_warn("php_%svalue %s = %s: unknown directive or bad value",
		    admin ? "admin_" : "", kv->key, kv->value);
}

/*
 * One php_value/php_admin_value, read as php.ini would read it (as php-fpm
 * does: "E_ALL & ~E_NOTICE" is an expression, constants are resolved).
 */
static void
pool_ini(const struct conf_kv *kv, bool admin)
{
	void *arg[2] = { (void *)kv, &admin };
	char *line;

	/* Values with characters php.ini treats specially are taken as they are. */
	if (strpbrk(kv->value, "\"\n=;[]{}$") != NULL) {
		if (ini_set_master(kv->key, kv->value, admin) == -1)
			log_warn("php_%svalue %s = %s: unknown directive or bad value",
			    admin ? "admin_" : "", kv->key, kv->value);
		return;
	}
	spprintf(&line, 0, "x = %s\n", kv->value);
	if (zend_parse_ini_string(line, 0, ZEND_INI_SCANNER_NORMAL,
	    (zend_ini_parser_cb_t)pool_ini_entry, arg) == FAILURE)
		log_warn("php_%svalue %s = %s: not a valid php.ini value",
		    admin ? "admin_" : "", kv->key, kv->value);
	efree(line);
}

/* After fork, in the worker: the pool's php_value / php_admin_value. */
int
sapi_worker_init(const struct pool_conf *p, char **cause)
{
	size_t i;

	cur_pool = p;
	for (i = 0; i < p->n_php_values; i++)
		pool_ini(&p->php_values[i], false);
	for (i = 0; i < p->n_php_admin_values; i++)
		pool_ini(&p->php_admin_values[i], true);
	(void)cause;
	return 0;
}

/* Some servers let "/.." slip through; such paths are refused. */
static bool
valid_path(const char *path)
{
	const char *p;

	if (path == NULL)
		return false;
	for (p = strstr(path, ".."); p != NULL; p = strstr(p + 1, "..")) {
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return false;
	}
	return true;
}

/* Apache's mod_proxy_fcgi sends "proxy:fcgi://host:port/path?query". */
static bool
strip_proxy_prefix(char *sf)
{
	static const char *const prefixes[] = { "proxy:fcgi://", "proxy:balancer://" };
	bool stripped = false;
	size_t i;
	char *p;

	for (i = 0; i < 2; i++) {
		size_t plen = strlen(prefixes[i]);
		if (strncasecmp(sf, prefixes[i], plen) != 0)
			continue;
		for (p = sf + plen; *p != '\0' && *p != '/'; p++)
			;
		if (*p != '\0') {
			memmove(sf, p, strlen(p) + 1);
			stripped = true;
		}
		if ((p = strchr(sf, '?')) != NULL)
			*p = '\0';
	}
	return stripped;
}

/* Build PATH_TRANSLATED = docroot-or-prefix + PATH_INFO, remembering the original. */
static char *
set_path_translated(char *orig_pt, const char *base, size_t blen,
    const char *path_info)
{
	size_t pil = path_info != NULL ? strlen(path_info) : 0;
	char *pt = emalloc(blen + pil + 1), *r;

	memcpy(pt, base, blen);
	if (pil > 0)
		memcpy(pt + blen, path_info, pil);
	pt[blen + pil] = '\0';
	if (orig_pt != NULL)
		param_set("ORIG_PATH_TRANSLATED", orig_pt);
	r = param_set("PATH_TRANSLATED", pt);
	efree(pt);
	return r;
}

/*
 * cgi.fix_pathinfo: SCRIPT_FILENAME may carry trailing path info
 * (/docroot/info.php/test); find the real script by walking back through
 * the slashes and derive PATH_INFO, SCRIPT_NAME and PATH_TRANSLATED from
 * it, keeping ORIG_* copies of what was changed (php-fpm's behaviour).
 */
static char *
fix_pathinfo(char *spt, bool apache, char *env_path_info, char *env_script_name,
    char *env_path_translated)
{
	char *orig_pt = env_path_translated, *orig_pi = env_path_info;
	char *orig_sn = env_script_name, *orig_sf = param("SCRIPT_FILENAME");
	char *env_redirect_url = param("REDIRECT_URL");
	char *docroot = param("DOCUMENT_ROOT");
	char *real = NULL;
	size_t sptl;
	struct stat st;

	if (docroot == NULL && PG(doc_root) != NULL)
		docroot = param_set("DOCUMENT_ROOT", PG(doc_root));
	if (!apache && env_path_translated != NULL && env_redirect_url != NULL &&
	    env_path_translated != spt && strcmp(env_path_translated, spt) != 0) {
		spt = env_path_translated;
		env_script_name = env_redirect_url;
	}
	if (spt != NULL && (sptl = strlen(spt)) > 0 &&
	    (spt[sptl - 1] == '/' || (real = tsrm_realpath(spt, NULL)) == NULL)) {
		char *pt = estrndup(spt, sptl), *ptr = NULL;
		size_t len = sptl;

		while ((ptr = strrchr(pt, '/')) != NULL) {
			size_t ptlen, slen, pilen;
			char *path_info;
			bool tflag;

			*ptr = '\0';
			if (stat(pt, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			ptlen = strlen(pt);
			slen = len - ptlen;
			pilen = env_path_info != NULL ? strlen(env_path_info) : 0;
			if (apache) {
				path_info = spt + ptlen;
				tflag = slen != 0 && (orig_pi == NULL ||
				    strcmp(orig_pi, path_info) != 0);
			} else {
				path_info = env_path_info != NULL && pilen > slen ?
				    env_path_info + pilen - slen : NULL;
				tflag = path_info != NULL && orig_pi != path_info;
			}
			if (tflag) {
				char *decoded = NULL;
				if (orig_pi != NULL) {
					char old;
					param_set("ORIG_PATH_INFO", orig_pi);
					old = path_info[0];
					path_info[0] = '\0';
					if (orig_sn == NULL ||
					    strcmp(orig_sn, env_path_info) != 0) {
						if (orig_sn != NULL)
							param_set("ORIG_SCRIPT_NAME", orig_sn);
						SG(request_info).request_uri =
						    param_set("SCRIPT_NAME", env_path_info);
					} else
						SG(request_info).request_uri = orig_sn;
					path_info[0] = old;
				} else if (apache && env_script_name != NULL) {
					size_t dlen = 0, snlen = strlen(env_script_name);
					size_t start = 0;
					if (cgi.script_path_encoded &&
					    strchr(path_info, '%') != NULL) {
						decoded = estrdup(path_info);
						dlen = php_raw_url_decode(decoded,
						    strlen(path_info));
					}
					if ((snlen > slen && strcmp(env_script_name +
					    (start = snlen - slen), path_info) == 0) ||
					    (decoded != NULL && snlen > dlen &&
					    strcmp(env_script_name + (start = snlen - dlen),
					    decoded) == 0)) {
						param_set("ORIG_SCRIPT_NAME", orig_sn);
						env_script_name[start] = '\0';
						SG(request_info).request_uri =
						    param_set("SCRIPT_NAME", env_script_name);
					}
				}
				env_path_info = param_set("PATH_INFO",
				    decoded != NULL ? decoded : path_info);
				if (decoded != NULL)
					efree(decoded);
			}
			if (orig_sf == NULL || strcmp(orig_sf, pt) != 0) {
				if (orig_sf != NULL)
					param_set("ORIG_SCRIPT_FILENAME", orig_sf);
				spt = param_set("SCRIPT_FILENAME", pt);
			}
			if (docroot != NULL) {
				size_t l = strlen(docroot);
				if (l > 0 && docroot[l - 1] == '/')
					l--;
				set_path_translated(orig_pt, docroot, l, env_path_info);
			} else if (env_script_name != NULL &&
			    strstr(pt, env_script_name) != NULL) {
				set_path_translated(orig_pt, pt,
				    strlen(pt) - strlen(env_script_name), env_path_info);
			}
			break;
		}
		if (ptr == NULL) {
			if (orig_sf != NULL)
				param_set("ORIG_SCRIPT_FILENAME", orig_sf);
			spt = param_set("SCRIPT_FILENAME", NULL);
			SG(sapi_headers).http_response_code = 404;
		}
		if (SG(request_info).request_uri == NULL) {
			if (orig_sn == NULL || strcmp(orig_sn, env_script_name) != 0) {
				if (orig_sn != NULL)
					param_set("ORIG_SCRIPT_NAME", orig_sn);
				SG(request_info).request_uri =
				    param_set("SCRIPT_NAME", env_script_name);
			} else
				SG(request_info).request_uri = orig_sn;
		}
		efree(pt);
		return spt;
	}
	if (orig_sf == NULL || (spt != orig_sf && strcmp(spt, orig_sf) != 0)) {
		if (orig_sf != NULL)
			param_set("ORIG_SCRIPT_FILENAME", orig_sf);
		spt = param_set("SCRIPT_FILENAME", spt);
	}
	if (!apache && env_redirect_url != NULL) {
		if (orig_pi != NULL) {
			param_set("ORIG_PATH_INFO", orig_pi);
			param_set("PATH_INFO", NULL);
		}
		if (orig_pt != NULL) {
			param_set("ORIG_PATH_TRANSLATED", orig_pt);
			param_set("PATH_TRANSLATED", NULL);
		}
	}
	if (env_script_name != orig_sn) {
		if (orig_sn != NULL)
			param_set("ORIG_SCRIPT_NAME", orig_sn);
		SG(request_info).request_uri = param_set("SCRIPT_NAME",
		    env_script_name);
	} else
		SG(request_info).request_uri = env_script_name;
	if (real != NULL)
		efree(real);
	return spt;
}

/* SG(request_info) from the FastCGI params, as php-fpm fills it. */
static void
init_request_info(void)
{
	char *sf = param("SCRIPT_FILENAME");
	char *env_pt = param("PATH_TRANSLATED");
	char *spt = sf != NULL ? sf : env_pt;
	char *cl, *ct, *pi, *sn;
	bool apache = false;

	SG(request_info).path_translated = NULL;
	SG(request_info).request_method = param("REQUEST_METHOD");
	SG(request_info).proto_num = 1000;
	SG(request_info).query_string = NULL;
	SG(request_info).request_uri = NULL;
	SG(request_info).content_type = NULL;
	SG(request_info).content_length = 0;
	SG(sapi_headers).http_response_code = 200;
	if (spt == NULL)
		return;
	cl = param("CONTENT_LENGTH");
	ct = param("CONTENT_TYPE");
	pi = param("PATH_INFO");
	sn = param("SCRIPT_NAME");
	if (sf != NULL && strip_proxy_prefix(sf))
		apache = true;
	if (apache && !cgi.script_path_encoded)
		php_raw_url_decode(sf, strlen(sf));
	if (cgi.fix_pathinfo)
		spt = fix_pathinfo(spt, apache, pi, sn, env_pt);
	else {
		SG(request_info).request_uri = pi != NULL ? pi : sn;
		if (!cgi.discard_path && env_pt != NULL)
			spt = env_pt;
	}
	if (valid_path(spt))
		SG(request_info).path_translated = estrdup(spt);
	SG(request_info).query_string = param("QUERY_STRING");
	SG(request_info).content_type = ct != NULL ? ct : "";
	SG(request_info).content_length = cl != NULL ? atol(cl) : 0;
	php_handle_auth_data(param("HTTP_AUTHORIZATION"));
}

static void
fcgi_ini_entry(zval *key, zval *value, zval *unused, int type, void *arg)
{
	int mode = *(int *)arg;

	(void)unused;
	if (type != ZEND_INI_PARSER_ENTRY || key == NULL || value == NULL)
		return;
	if (zend_alter_ini_entry_chars(Z_STR_P(key), Z_STRVAL_P(value),
	    Z_STRLEN_P(value), mode, ZEND_INI_STAGE_ACTIVATE) == FAILURE)
		log_warn("PHP_%sVALUE: cannot set %s", mode == ZEND_INI_SYSTEM ?
		    "ADMIN_" : "", Z_STRVAL_P(key));
}

/* PHP_VALUE / PHP_ADMIN_VALUE params: only for pools that trust the web server. */
static void
apply_fcgi_ini(void)
{
	static const char *const names[] = { "PHP_VALUE", "PHP_ADMIN_VALUE" };
	/* PHP_VALUE may set what .user.ini may (as php-fpm); admin values stay locked. */
	int modes[] = { ZEND_INI_USER | ZEND_INI_PERDIR, ZEND_INI_SYSTEM };
	size_t i;

	for (i = 0; i < 2; i++) {
		char *v = param(names[i]), *tmp;
		if (v == NULL)
			continue;
		if (!cur_pool->allow_fcgi_ini) {
			log_debug("ignoring %s sent by the web server (fastcgi.allow_php_value = no)",
			    names[i]);
			continue;
		}
		spprintf(&tmp, 0, "%s\n", v);
		zend_parse_ini_string(tmp, 1, ZEND_INI_SCANNER_NORMAL,
		    (zend_ini_parser_cb_t)fcgi_ini_entry, &modes[i]);
		efree(tmp);
	}
}

/* security.limit_extensions: true if the script may not run. */
static bool
extension_denied(const char *path)
{
	size_t i, plen = strlen(path);

	if (cur_pool == NULL || cur_pool->n_limit_extensions == 0)
		return false;
	for (i = 0; i < cur_pool->n_limit_extensions; i++) {
		const char *ext = cur_pool->limit_extensions[i];
		size_t elen = strlen(ext);
		if (plen > elen && strcmp(path + plen - elen, ext) == 0)
			return false;
	}
	request_log(LOG_LVL_NOTICE, "Access to the script '%s' has been denied (see security.limit_extensions)",
	    path);
	return true;
}

static void
respond_error(int code, const char *body)
{
	zend_try {
		SG(sapi_headers).http_response_code = code;
		PUTS(body);
	} zend_catch {
	} zend_end_try();
}


static void
copy_field(char *dst, size_t size, const char *src)
{
	if (src == NULL)
		src = "";
	strncpy(dst, src, size - 1);
	dst[size - 1] = '\0';
}

static uint64_t req_cpu_user, req_cpu_sys;	/* CPU time when the request began */

/* Make c the current request: SG(request_info) and the scoreboard slot. */
static void
begin_request(struct fcgi_conn *c, struct sb_slot *slot)
{
	cur = c;
	cgi.log_started = false;
	SG(server_context) = c;
	slowlog_request_start();
	init_request_info();
	sb_cpu_us(&req_cpu_user, &req_cpu_sys);
	if (slot != NULL) {
		/* php-fpm's fields: "request URI" is SCRIPT_NAME, then the query. */
		copy_field(slot->method, sizeof slot->method,
		    SG(request_info).request_method);
		copy_field(slot->uri, sizeof slot->uri,
		    SG(request_info).request_uri);
		copy_field(slot->query, sizeof slot->query,
		    SG(request_info).query_string);
		copy_field(slot->script, sizeof slot->script,
		    SG(request_info).path_translated);
		copy_field(slot->user, sizeof slot->user,
		    SG(request_info).auth_user);
		slot->content_length = (uint64_t)SG(request_info).content_length;
		slot->state = SB_RUNNING;
	}
}

/* %{NAME}e: a FastCGI param of the request. */
static const char *
access_param(void *ctx, const char *name)
{
	(void)ctx;
	return param(name);
}

/* %{Name}o: a response header as the script left it. */
static const char *
access_header(void *ctx, const char *name)
{
	zend_llist_position pos;
	sapi_header_struct *h;
	size_t nlen = strlen(name);
	const char *v;

	(void)ctx;
	for (h = zend_llist_get_first_ex(&SG(sapi_headers).headers, &pos);
	    h != NULL; h = zend_llist_get_next_ex(&SG(sapi_headers).headers, &pos)) {
		if (h->header_len <= nlen + 1 || h->header[nlen] != ':' ||
		    strncasecmp(h->header, name, nlen) != 0)
			continue;
		for (v = h->header + nlen + 1; *v == ' '; v++)
			;
		return v;
	}
	return NULL;
}

/*
 * The request's access log line, while the response headers are still
 * there (php-fpm writes it at the same point: before the request shutdown).
 */
static void
log_access(struct sb_slot *slot)
{
	struct access_rec r;
	uint64_t u, sy;

	if (!accesslog_enabled() || slot == NULL)
		return;
	sb_cpu_us(&u, &sy);
	accesslog_rec_init(&r, cur_pool != NULL ? cur_pool->name : NULL, slot,
	    SG(sapi_headers).http_response_code);
	r.remote = worker_peer();
	r.now_wall_us = sb_wall_us();
	r.duration_us = sb_now_us() - slot->req_start_us;
	r.cpu_user_us = u - req_cpu_user;
	r.cpu_sys_us = sy - req_cpu_sys;
	r.memory = zend_memory_peak_usage(1);
	r.param = access_param;
	r.header = access_header;
	accesslog_write(&r);
}

/* The scoreboard's figures of the request that ends. */
static void
end_request_figures(struct sb_slot *slot, uint64_t t0)
{
	uint64_t u, sy;

	if (slot == NULL)
		return;
	sb_cpu_us(&u, &sy);
	slot->last_duration_us = sb_now_us() - t0;
	slot->last_cpu_user_us = u - req_cpu_user;
	slot->last_cpu_sys_us = sy - req_cpu_sys;
	slot->last_cpu_us = slot->last_cpu_user_us + slot->last_cpu_sys_us;
}

/* Serve one FastCGI request in classic mode: php-fpm's request cycle. */
void
sapi_handle(struct fcgi_conn *c, struct sb_slot *slot)
{
	zend_file_handle fh;
	char *primary = NULL;
	uint64_t t0 = slot != NULL && slot->req_start_us != 0 ?
	    slot->req_start_us : sb_now_us();
	bool opened = false;

	begin_request(c, slot);
	apply_fcgi_ini();

	if (php_request_startup() == FAILURE) {
		log_error("php_request_startup failed");
		fcgi_end_request(c, 1);
		SG(server_context) = NULL;
		cur = NULL;
		return;
	}
	if (SG(request_info).request_method == NULL)
		goto done;
	if (SG(request_info).path_translated == NULL) {
		request_log(LOG_LVL_DEBUG, "Primary script unknown");
		respond_error(404, "File not found.\n");
		goto done;
	}
	if (extension_denied(SG(request_info).path_translated)) {
		respond_error(403, "Access denied.\n");
		goto done;
	}
	primary = estrdup(SG(request_info).path_translated);
	if (php_fopen_primary_script(&fh) == FAILURE) {
		int saved = errno;
		request_log(LOG_LVL_ERROR, "Unable to open primary script: %s (%s)",
		    primary, strerror(saved));
		if (saved == EACCES)
			respond_error(403, "Access denied.\n");
		else
			respond_error(404, "No input file specified.\n");
	} else {
		opened = true;
		EG(exit_status) = 0;
		php_execute_script(&fh);
		if (!fh.in_list)
			zend_destroy_file_handle(&fh);
	}
done:
	(void)opened;
	if (primary != NULL)
		efree(primary);
	if (slot != NULL) {
		slot->state = SB_FINISHING;
		slot->last_memory = zend_memory_peak_usage(1);
	}
	log_access(slot);
	if (SG(request_info).path_translated != NULL) {
		efree(SG(request_info).path_translated);
		SG(request_info).path_translated = NULL;
	}
	php_request_shutdown(NULL);
	fcgi_end_request(c, 0);
	SG(server_context) = NULL;
	cur = NULL;
	end_request_figures(slot, t0);
	if (slot != NULL)
		slot->memory = zend_memory_usage(1);
}

/* For php_api.c: the connection of the running request. */
struct fcgi_conn *
sapi_current(void)
{
	return cur;
}

/*
 * Worker mode (DESIGN.md section 2).  The process runs one boot request:
 * the worker script boots the application and loops on
 * pfpm_handle_request(), which serves each FastCGI request inside that
 * boot request after resetting the per-request engine state below.
 */
static bool worker_booted;
static bool worker_fatal;
static HashTable boot_ini;		/* ini values as the boot left them */

/* What else the boot left, restored after each request (php-fpm starts clean). */
static struct {
	zend_ulong shutdown_next;	/* shutdown functions from here on: a request's */
	zval error_handler;
	zval exception_handler;
	int error_handler_mask;
	int error_handlers;		/* depth of the handler stacks */
	int exception_handlers;
	zend_string *timezone;
	bool locale_changed;
	uint32_t putenvs;
} boot;

/* Call a PHP function with one optional string argument; its result or UNDEF. */
static void
call_named(const char *fn, zend_string *arg, zval *rv)
{
	zval name, param;

	ZVAL_UNDEF(rv);
	ZVAL_STRING(&name, fn);
	if (arg != NULL)
		ZVAL_STR(&param, arg);
	zend_try {
		if (call_user_function(NULL, NULL, &name, rv, arg != NULL ? 1 : 0,
		    &param) != SUCCESS)
			ZVAL_UNDEF(rv);
	} zend_end_try();
	zval_ptr_dtor(&name);
}

static void
snapshot_boot_state(void)
{
	HashTable *sd = BG(user_shutdown_function_names);
	zval tz;

	boot.shutdown_next = sd != NULL ? (zend_ulong)sd->nNextFreeElement : 0;
	ZVAL_COPY(&boot.error_handler, &EG(user_error_handler));
	ZVAL_COPY(&boot.exception_handler, &EG(user_exception_handler));
	boot.error_handler_mask = EG(user_error_handler_error_reporting);
	boot.error_handlers = zend_stack_count(&EG(user_error_handlers));
	boot.exception_handlers = zend_stack_count(&EG(user_exception_handlers));
	call_named("date_default_timezone_get", NULL, &tz);
	boot.timezone = Z_TYPE(tz) == IS_STRING ? zend_string_copy(Z_STR(tz)) : NULL;
	zval_ptr_dtor(&tz);
	boot.locale_changed = BG(locale_changed);
	boot.putenvs = zend_hash_num_elements(&BG(putenv_ht));
}

static void
call_shutdown_function(php_shutdown_function_entry *e)
{
	zval rv;

	e->fci.retval = &rv;
	zend_try {
		if (zend_call_function(&e->fci, &e->fci_cache) == SUCCESS)
			zval_ptr_dtor(&rv);
	} zend_end_try();
}

/* register_shutdown_function() in a request: run at the end of that request. */
static void
run_request_shutdown_functions(void)
{
	HashTable *sd = BG(user_shutdown_function_names);
	php_shutdown_function_entry *e;
	zend_ulong h;

	if (sd == NULL || (zend_ulong)sd->nNextFreeElement <= boot.shutdown_next)
		return;
	ZEND_HASH_FOREACH_NUM_KEY_PTR(sd, h, e) {
		if (h >= boot.shutdown_next)
			call_shutdown_function(e);
	} ZEND_HASH_FOREACH_END();
	for (h = boot.shutdown_next; h < (zend_ulong)sd->nNextFreeElement; h++)
		zend_hash_index_del(sd, h);
}

static void
restore_handler(zval *cur_handler, zval *saved, zend_stack *stack, int depth)
{
	while (zend_stack_count(stack) > depth) {
		zval *top = zend_stack_top(stack);
		zval_ptr_dtor(top);
		zend_stack_del_top(stack);
	}
	if (!zend_is_identical(cur_handler, saved)) {
		zval_ptr_dtor(cur_handler);
		ZVAL_COPY(cur_handler, saved);
	}
}

/* Handlers, time zone, locale and putenv() as the boot left them. */
static void
restore_boot_state(void)
{
	restore_handler(&EG(user_error_handler), &boot.error_handler,
	    &EG(user_error_handlers), boot.error_handlers);
	EG(user_error_handler_error_reporting) = boot.error_handler_mask;
	restore_handler(&EG(user_exception_handler), &boot.exception_handler,
	    &EG(user_exception_handlers), boot.exception_handlers);
	if (boot.timezone != NULL) {
		zval tz, rv;
		call_named("date_default_timezone_get", NULL, &tz);
		if (Z_TYPE(tz) == IS_STRING && !zend_string_equals(Z_STR(tz),
		    boot.timezone)) {
			call_named("date_default_timezone_set", boot.timezone, &rv);
			zval_ptr_dtor(&rv);
		}
		zval_ptr_dtor(&tz);
	}
	if (BG(locale_changed) && !boot.locale_changed) {
		setlocale(LC_ALL, "C");
		zend_reset_lc_ctype_locale();
		zend_update_current_locale();
		if (BG(ctype_string) != NULL) {
			zend_string_release_ex(BG(ctype_string), 0);
			BG(ctype_string) = NULL;
		}
		BG(locale_changed) = 0;
	}
	/* Dropping an entry puts the variable back as it was. */
	while (zend_hash_num_elements(&BG(putenv_ht)) > boot.putenvs) {
		HashPosition pos;
		zend_string *key;
		zend_ulong idx;

		zend_hash_internal_pointer_end_ex(&BG(putenv_ht), &pos);
		if (zend_hash_get_current_key_ex(&BG(putenv_ht), &key, &idx, &pos) !=
		    HASH_KEY_IS_STRING)
			break;
		zend_hash_del(&BG(putenv_ht), key);
	}
}

bool
sapi_worker_mode(void)
{
	return worker_mode;
}

/* After boot: remember the ini values the application set while booting. */
static void
snapshot_boot_ini(void)
{
	zend_ini_entry *e;
	zend_string *key;

	zend_hash_init(&boot_ini, 8, NULL, ZVAL_PTR_DTOR, 0);
	if (EG(modified_ini_directives) == NULL)
		return;
	ZEND_HASH_FOREACH_STR_KEY_PTR(EG(modified_ini_directives), key, e) {
		zval v;
		if (e->value != NULL)
			ZVAL_STR_COPY(&v, e->value);
		else
			ZVAL_NULL(&v);
		zend_hash_add_new(&boot_ini, key, &v);
	} ZEND_HASH_FOREACH_END();
}

/* ini_set() during a request is undone: back to the boot values. */
static void
restore_boot_ini(void)
{
	zend_string **keys, *key;
	zend_ini_entry *e;
	uint32_t n = 0, i;

	if (EG(modified_ini_directives) == NULL ||
	    zend_hash_num_elements(EG(modified_ini_directives)) == 0)
		return;
	keys = emalloc(zend_hash_num_elements(EG(modified_ini_directives)) *
	    sizeof *keys);
	ZEND_HASH_FOREACH_STR_KEY_PTR(EG(modified_ini_directives), key, e) {
		zval *boot = zend_hash_find(&boot_ini, key);
		if (boot == NULL || (Z_TYPE_P(boot) == IS_STRING &&
		    (e->value == NULL || !zend_string_equals(e->value, Z_STR_P(boot)))))
			keys[n++] = zend_string_copy(key);
	} ZEND_HASH_FOREACH_END();
	for (i = 0; i < n; i++) {
		zval *boot = zend_hash_find(&boot_ini, keys[i]);
		if (boot != NULL)
			zend_alter_ini_entry_ex(keys[i], Z_STR_P(boot), ZEND_INI_SYSTEM,
			    ZEND_INI_STAGE_RUNTIME, 1);
		else
			zend_restore_ini_entry(keys[i], ZEND_INI_STAGE_RUNTIME);
		zend_string_release(keys[i]);
	}
	efree(keys);
}

/* php://input and php://temp streams nobody holds any more (they pile up). */
static void
release_temp_streams(void)
{
	zend_resource *r;
	int type = php_file_le_stream();

	ZEND_HASH_FOREACH_PTR(&EG(regular_list), r) {
		php_stream *st;
		if (r->type != type || (st = r->ptr) == NULL)
			continue;
		if (st->ops == &php_stream_temp_ops && st->__exposed == 0 &&
		    GC_REFCOUNT(r) == 1)
			zend_list_delete(r);
	} ZEND_HASH_FOREACH_END();
}

static void
module_hook(const char *name, bool startup)
{
	zend_module_entry *m;

	m = zend_hash_str_find_ptr(&module_registry, name, strlen(name));
	if (m == NULL)
		return;
	if (startup && m->request_startup_func != NULL)
		m->request_startup_func(m->type, m->module_number);
	else if (!startup && m->request_shutdown_func != NULL)
		m->request_shutdown_func(m->type, m->module_number);
}

/* Superglobals from the new request; JIT ones already in use are re-armed. */
static void
rearm_globals(void)
{
	static const char *const jit[] = { "_ENV", "_REQUEST" };
	size_t i;

	for (i = 0; i < NUM_TRACK_VARS; i++)
		zval_ptr_dtor_nogc(&PG(http_globals)[i]);
	php_hash_environment();
	zend_is_auto_global(ZSTR_KNOWN(ZEND_STR_AUTOGLOBAL_SERVER));
	for (i = 0; i < 2; i++)
		if (zend_hash_str_exists(&EG(symbol_table), jit[i], strlen(jit[i])))
			zend_is_auto_global_str((char *)jit[i], strlen(jit[i]));
	zend_hash_str_del(&EG(symbol_table), "_SESSION", sizeof("_SESSION") - 1);
}

/* The first pfpm_handle_request(): the boot is over, remember what it left. */
void
sapi_worker_booted(void)
{
	const struct worker_ctx *w = worker_context();

	if (worker_booted)
		return;
	snapshot_boot_ini();
	snapshot_boot_state();
	worker_booted = true;
	if (w != NULL && w->slot != NULL)
		w->slot->memory = zend_memory_usage(1);	/* the booted application */
}

/* Before the handler: a php-fpm-like fresh world for this request. */
int
sapi_worker_begin(struct fcgi_conn *c, struct sb_slot *slot)
{
	int rc = 0;

	begin_request(c, slot);
	/* The application routes every path itself: no 404 from fix_pathinfo. */
	SG(sapi_headers).http_response_code = 200;
	zend_try {
		release_temp_streams();
		php_output_activate();
		PG(header_is_being_sent) = 0;
		PG(connection_status) = PHP_CONNECTION_NORMAL;
		sapi_activate();
		if (PG(expose_php))
			sapi_add_header(SAPI_PHP_VERSION_HEADER,
			    sizeof(SAPI_PHP_VERSION_HEADER) - 1, 1);
		if (PG(output_handler) != NULL && PG(output_handler)[0] != '\0') {
			zval oh;
			ZVAL_STRING(&oh, PG(output_handler));
			php_output_start_user(&oh, 0, PHP_OUTPUT_HANDLER_STDFLAGS);
			zval_ptr_dtor(&oh);
		} else if (PG(output_buffering))
			php_output_start_user(NULL, PG(output_buffering) > 1 ?
			    PG(output_buffering) : 0, PHP_OUTPUT_HANDLER_STDFLAGS);
		else if (PG(implicit_flush))
			php_output_set_implicit_flush(1);
		rearm_globals();
		module_hook("filter", true);
		module_hook("session", true);
	} zend_catch {
		rc = -1;
	} zend_end_try();
	SG(sapi_started) = 1;
	EG(exit_status) = 0;
	return rc;
}

/* After the handler: send everything, end the request, undo its changes. */
void
sapi_worker_end(struct sb_slot *slot)
{
	const struct pool_conf *p = cur_pool;

	run_request_shutdown_functions();
	zend_try {
		php_output_end_all();
	} zend_end_try();
	zend_try {
		module_hook("session", false);
		module_hook("filter", false);
	} zend_end_try();
	zend_try {
		php_output_deactivate();
	} zend_end_try();
	if (SG(request_info).path_translated != NULL) {
		efree(SG(request_info).path_translated);
		SG(request_info).path_translated = NULL;
	}
	log_access(slot);
	zend_try {
		sapi_deactivate();
	} zend_end_try();
	SG(request_info).no_headers = 1;	/* until the next request */
	if (cur != NULL)
		fcgi_end_request(cur, 0);
	/* sapi_deactivate() frees these without clearing them. */
	SG(request_info).auth_user = NULL;
	SG(request_info).auth_password = NULL;
	SG(request_info).auth_digest = NULL;
	SG(request_info).content_type_dup = NULL;
	SG(request_info).current_user = NULL;
	SG(request_info).request_method = NULL;
	SG(request_info).query_string = NULL;
	SG(request_info).request_uri = NULL;
	SG(request_info).content_type = NULL;
	SG(request_info).cookie_data = NULL;
	PG(last_error_type) = 0;
	PG(last_error_lineno) = 0;
	if (PG(last_error_message) != NULL) {
		zend_string_release(PG(last_error_message));
		PG(last_error_message) = NULL;
	}
	if (PG(last_error_file) != NULL) {
		zend_string_release(PG(last_error_file));
		PG(last_error_file) = NULL;
	}
	restore_boot_ini();
	restore_boot_state();
	zend_set_memory_limit(PG(memory_limit));
	if (slot != NULL) {
		slot->last_memory = zend_memory_peak_usage(1);
		slot->state = SB_FINISHING;
	}
	zend_memory_reset_peak_usage();
	if (slot != NULL) {
		end_request_figures(slot, slot->req_start_us);
		slot->memory = zend_memory_usage(1);
	}
	if (p != NULL && p->worker_max_memory > 0 &&
	    (int64_t)zend_memory_usage(1) > p->worker_max_memory)
		worker_retire(SB_RECYCLE_MAX_MEMORY);
	SG(server_context) = NULL;
	cur = NULL;
}

/*
 * A fatal error (or memory exhaustion, or max_execution_time) in the
 * handler: the engine is not safe to reuse.  The request is answered by the
 * boot request's own shutdown and the process is replaced.
 */
void
sapi_worker_fatal(void)
{
	worker_fatal = true;
	worker_retire(SB_RECYCLE_FATAL);
}

/* Run the boot request; returns the process exit code. */
int
sapi_worker_run(const struct worker_ctx *w)
{
	const char *script = w->pool->worker_script;
	zend_file_handle fh;
	struct sb_slot *slot = w->slot;
	int status;

	worker_mode = true;
	cur = NULL;
	SG(server_context) = NULL;
	memset(&SG(request_info), 0, sizeof SG(request_info));
	SG(sapi_headers).http_response_code = 200;
	if (php_request_startup() == FAILURE) {
		log_error("worker mode: php_request_startup failed");
		return 1;
	}
	SG(request_info).no_headers = 1;	/* the boot request has no client */
	slot->state = SB_STARTING;
	log_debug("booting worker script %s", script);
	zend_stream_init_filename(&fh, script);
	php_execute_script(&fh);
	if (!fh.in_list)
		zend_destroy_file_handle(&fh);
	status = EG(exit_status);
	if (worker_fatal && cur != NULL) {
		slot->state = SB_FINISHING;
		slot->last_memory = zend_memory_peak_usage(1);
		log_access(slot);
	}
	php_request_shutdown(NULL);
	if (cur != NULL) {
		/* The request the fatal error interrupted, answered above. */
		struct fcgi_conn *c = cur;
		fcgi_end_request(c, 0);
		cur = NULL;
		end_request_figures(slot, slot->req_start_us);
		worker_done(c);
	}
	/* Task, timer and custom processes end as their script says. */
	if (w->role != ROLE_REQUEST)
		return worker_fatal ? PFPM_EXIT_REPLACE : status;
	if (!worker_booted) {
		log_error("worker script %s ended before serving a request: the application failed to boot (see the errors above)",
		    script);
		return 1;
	}
	if (worker_fatal) {
		log_warn("a fatal error ended a request: replacing this process");
		return PFPM_EXIT_REPLACE;
	}
	return 0;
}
