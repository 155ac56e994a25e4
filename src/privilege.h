/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the daemon gives up: core dumps (its memory holds other processes'
 * plaintext: request heads with their tokens and cookies).
 */
#ifndef PRIVILEGE_H
#define PRIVILEGE_H

/*
 * No core dump and no ptrace by anyone without CAP_SYS_PTRACE:
 * PR_SET_DUMPABLE 0 and RLIMIT_CORE's soft limit 0. Called first thing in main; it
 * cannot fail in a way worth stopping for (logged at debug level).
 */
void privilege_no_core_dumps(void);

#endif /* PRIVILEGE_H */
