// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Linked only into the static (dist) build, with
 * -Wl,--wrap=getservbyname,--wrap=getservbyport_r.
 *
 * c-ares calls getservbyname() (ares_getaddrinfo with a service name) and
 * getservbyport_r() (ares_getnameinfo). In a static glibc those go through
 * NSS, which dlopen()s the *host's* libnss_*.so at run time: a different
 * glibc than the one linked in, and the link warns about it. The daemon
 * passes no service name and never calls ares_getnameinfo, so these paths
 * are dead; replacing them keeps NSS and dlopen out of the executable
 * entirely (tests/dist checks with nm) and makes an accidental use fail
 * cleanly ("no such service") instead of loading foreign libraries.
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>

struct servent *__wrap_getservbyname(const char *name, const char *proto);
int __wrap_getservbyport_r(int port, const char *proto, struct servent *result_buf,
			   char *buf, size_t buflen, struct servent **result);

struct servent *__wrap_getservbyname(const char *name, const char *proto)
{
	(void)name;
	(void)proto;
	return NULL;
}

int __wrap_getservbyport_r(int port, const char *proto, struct servent *result_buf,
			   char *buf, size_t buflen, struct servent **result)
{
	(void)port;
	(void)proto;
	(void)result_buf;
	(void)buf;
	(void)buflen;
	*result = NULL;
	return ENOENT;
}
