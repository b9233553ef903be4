/*
 * Built only with --enable-sanitizers.  PHP loads extensions with
 * dlopen(RTLD_DEEPBIND), which AddressSanitizer refuses; this dlopen()
 * (exported by the executable, so libphp binds to it) drops that flag.
 */
#include "pfpm.h"

#include <dlfcn.h>

void *dlopen(const char *, int);

void *
dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "dlopen");
	return real(file, mode & ~RTLD_DEEPBIND);
}
