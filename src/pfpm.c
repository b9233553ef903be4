/*
 * pfpm: command line, configuration check, daemonizing; then the master.
 */
#include "pfpm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/pfpm/pfpm.conf"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: pfpm [-DFRtvh] [-c file]\n"
	    "       pfpm --convert-fpm [-p prefix] file...\n"
	    "       pfpm [-c file] task list|stats POOL\n"
	    "       pfpm [-c file] task retry|purge POOL ID|--all\n"
	    "  -c, --config FILE   configuration file (default " DEFAULT_CONF ");\n"
	    "  -y, --fpm-config FILE  the same, as php-fpm spells it\n"
	    "  -t, --test          check the configuration and exit (1 on error)\n"
	    "  -F, --nodaemonize   stay in the foreground\n"
	    "  -D, --daemonize     run in the background (writes the pid file)\n"
	    "  -R, --allow-to-run-as-root  allow pools without a user when root\n"
	    "  --convert-fpm FILE...  print php-fpm's FILEs as pfpm configuration\n"
	    "                      (exit 1 if a directive cannot be carried over)\n"
	    "  -p, --prefix DIR    with --convert-fpm: php-fpm's -p prefix\n"
	    "  task ...            the pool's task queue: list or count dead letters,\n"
	    "                      put them back in the queue (retry) or delete them\n"
	    "  -v, --version       print the version\n"
	    "  -h, --help          this help\n");
}

/*
 * Where "task ..." starts, or argc: what follows it is the subcommand's,
 * not getopt's ("--all" is not an option of pfpm's).
 */
static int
subcommand_at(int argc, char **argv)
{
	static const char *const with_arg[] = { "-c", "-y", "-p", "--config",
	    "--fpm-config", "--prefix" };
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		bool is_arg = false;

		for (k = 0; k < sizeof with_arg / sizeof with_arg[0]; k++)
			if (strcmp(argv[i - 1], with_arg[k]) == 0)
				is_arg = true;
		if (!is_arg && strcmp(argv[i], "task") == 0)
			return i;
	}
	return argc;
}

/* php-fpm's rule: a root master needs a user for each pool, unless -R. */
static int
check_root(const struct conf *c, bool allow_root)
{
	size_t i;
	int errors = 0;

	if (geteuid() != 0 || allow_root)
		return 0;
	for (i = 0; i < c->npools; i++) {
		const struct pool_conf *p = c->pools[i];
		if (p->user == NULL || strcmp(p->user, "root") == 0) {
			log_error("%s:%d: [pool %s] option 'user': set a user other than root (or start pfpm with -R)",
			    p->file, p->line, p->name);
			errors++;
		}
	}
	return errors > 0 ? -1 : 0;
}

/* --convert-fpm: php-fpm's files in, pfpm's configuration on stdout. */
static int
convert_fpm(char *const *files, size_t n, const char *prefix)
{
	char *out = NULL, *cause = NULL;
	int dropped;

	if ((dropped = fpmconf_convert(files, n, prefix, &out, &cause)) == -1) {
		fprintf(stderr, "pfpm: %s\n", cause);
		free(cause);
		return 1;
	}
	fputs(out, stdout);
	free(out);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "pfpm: cannot write the configuration\n");
		return 1;
	}
	if (dropped > 0) {
		fprintf(stderr, "pfpm: %d php-fpm directive%s could not be carried over (see the '# pfpm: cannot carry over' lines)\n",
		    dropped, dropped == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

/* Fork into the background; the parent exits once the master is ready. */
static int
daemonize(void)
{
	int p[2];
	char ok = 0;
	pid_t pid;

	if (pipe(p) == -1)
		fatal("pipe");
	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0: {
		int null = open("/dev/null", O_RDWR);

		close(p[0]);
		if (setsid() == -1)
			fatal("setsid");
		if (chdir("/") == -1)
			fatal("chdir /");
		if (null != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		return p[1];
	}
	default:
		close(p[1]);
		if (read(p[0], &ok, 1) != 1 || ok != '1') {
			fprintf(stderr, "pfpm: failed to start, see the error log\n");
			_exit(1);
		}
		_exit(0);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "fpm-config", required_argument, NULL, 'y' },
		{ "test", no_argument, NULL, 't' },
		{ "nodaemonize", no_argument, NULL, 'F' },
		{ "daemonize", no_argument, NULL, 'D' },
		{ "allow-to-run-as-root", no_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "convert-fpm", no_argument, NULL, 'C' },
		{ "prefix", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = DEFAULT_CONF, *prefix = NULL;
	static char abspath[PATH_MAX];
	bool test = false, allow_root = false, convert = false, reexec;
	int force = -1, ch, ready_fd = -1, rc;
	struct conf *c;
	char *cause = NULL;

	int sub = subcommand_at(argc, argv);

	while ((ch = getopt_long(sub, argv, "c:y:tFDRvhp:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
		case 'y':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'F':
			force = 0;
			break;
		case 'D':
			force = 1;
			break;
		case 'R':
			allow_root = true;
			break;
		case 'v':
			printf("pfpm %s (PHP %s)\n", PACKAGE_VERSION,
			    sapi_php_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'C':
			convert = true;
			break;
		case 'p':
			prefix = optarg;
			break;
		default:
			usage(stderr);
			return PFPM_EXIT_USAGE;
		}
	}
	if (convert) {
		if (optind == argc) {
			usage(stderr);
			return PFPM_EXIT_USAGE;
		}
		return convert_fpm(argv + optind, (size_t)(argc - optind),
		    prefix);
	}
	if (optind != sub || prefix != NULL) {
		usage(stderr);
		return PFPM_EXIT_USAGE;
	}

	log_init();
	/* Reloads re-read this path, possibly from another directory. */
	if (realpath(path, abspath) != NULL)
		path = abspath;
	if (sub < argc) {
		/* hiredis writes without MSG_NOSIGNAL: a dropped Redis must not kill us. */
		signal(SIGPIPE, SIG_IGN);
		if ((c = conf_load(path)) == NULL) {
			fprintf(stderr, "pfpm: configuration file %s test failed\n",
			    path);
			return 1;
		}
		rc = taskq_cli(c, argc - sub - 1, argv + sub + 1);
		conf_free(c);
		return rc;
	}
	if ((c = conf_load(path)) == NULL || check_root(c, allow_root) == -1) {
		fprintf(stderr, "pfpm: configuration file %s test failed\n", path);
		conf_free(c);
		return 1;
	}
	if (test) {
		/* The engine too: php.ini, extensions, as a real start would. */
		if (sapi_engine_start(c->php_ini, &cause) == -1) {
			fprintf(stderr, "pfpm: %s\n", cause);
			free(cause);
			conf_free(c);
			return 1;
		}
		sapi_engine_stop();
		fprintf(stderr, "pfpm: configuration file %s test is successful\n",
		    path);
		conf_free(c);
		return 0;
	}
	master_set_argv(argv, allow_root);
	reexec = getenv("PFPM_REEXEC") != NULL;
	unsetenv("PFPM_REEXEC");
	/* Under systemd (or -F) stay in the foreground. */
	if (force == -1)
		force = c->daemonize && getenv("NOTIFY_SOCKET") == NULL &&
		    getenv("INVOCATION_ID") == NULL;
	if (force == 1 && !reexec)
		ready_fd = daemonize();
	/* In the background, with no error_log, stderr is gone: use syslog. */
	if (c->error_log == NULL && force == 1)
		c->error_log = xstrdup("syslog");
	if (c->error_log != NULL && log_open(c->error_log, &cause) == -1) {
		fprintf(stderr, "pfpm: %s\n", cause);
		free(cause);
		conf_free(c);
		return 1;
	}
	log_set_level(c->log_level);
	rc = master_run(c, ready_fd);
	conf_free(c);
	log_close();
	return rc;
}
