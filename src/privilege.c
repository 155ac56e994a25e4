// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include "log.h"
#include "privilege.h"

/*
 * Not dumpable: no core file whatever RLIMIT_CORE says (with the default
 * fs.suid_dumpable=0), and /proc/<pid>/mem, environ and ptrace closed to
 * processes without CAP_SYS_PTRACE. RLIMIT_CORE's soft limit 0 as well, for
 * hosts whose fs.suid_dumpable=2 dumps even non-dumpable processes (the
 * hard limit is left: lowering it would stop no one who could raise the
 * soft one, and the unit sets both with LimitCORE=0).
 */
void privilege_no_core_dumps(void)
{
	struct rlimit rl;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_debug("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			log_debug("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
	}
}
