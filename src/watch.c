/*
 * watch = dirs (development): inotify on the directory trees; a change to a
 * .php file there asks the master for the usual graceful reload, debounced
 * by the caller (an editor's save is several events).
 */
#include "pfpm.h"

#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
	IN_MOVED_TO)
#define WATCH_MAX_DIRS 10000

static int nwatched;

/* Watch dir and every directory below it. */
static void
add_tree(int fd, const char *dir)
{
	struct dirent *de;
	DIR *d;
	char path[PATH_MAX];

	if (nwatched >= WATCH_MAX_DIRS)
		return;
	if (inotify_add_watch(fd, dir, WATCH_EVENTS) == -1) {
		log_syserr("watch: %s", dir);
		return;
	}
	nwatched++;
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			add_tree(fd, path);
	}
	closedir(d);
}

/* An inotify fd watching every directory of the list; -1 on error. */
int
watch_open(char **dirs, size_t n, char **cause)
{
	size_t i;
	int fd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		xasprintf(cause, "inotify: %s", strerror(errno));
		return -1;
	}
	nwatched = 0;
	for (i = 0; i < n; i++)
		add_tree(fd, dirs[i]);
	log_notice("watching %d directories for PHP changes", nwatched);
	return fd;
}

static bool
is_php(const char *name)
{
	size_t len = strlen(name);

	return len > 4 && strcmp(name + len - 4, ".php") == 0;
}

/*
 * Read the pending events: true if a PHP file changed.  New directories
 * are watched too (their path is rebuilt from the event's watch).
 */
bool
watch_read(int fd)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->len > 0 && (ev->mask & IN_ISDIR) == 0 &&
			    is_php(ev->name))
				changed = true;
			if (ev->len > 0 && (ev->mask & IN_ISDIR) &&
			    (ev->mask & (IN_CREATE | IN_MOVED_TO)))
				changed = true;	/* a new tree: reload picks it up */
			p += sizeof *ev + ev->len;
		}
	}
	return changed;
}
