/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The Go crypto/tls back end (tls_backend_go.c). */
#ifndef TLS_BACKEND_GO_H
#define TLS_BACKEND_GO_H

#include "tls_backend.h"

/*
 * Classify the file open on FD as a Go program: 0 with v filled (traced,
 * with syms; or not traced, with the reason), -ENOENT when it is not a Go
 * program using crypto/tls, other -errno when it could not be read.
 */
int tls_go_classify(int fd, struct tls_verdict *v);

#endif /* TLS_BACKEND_GO_H */
