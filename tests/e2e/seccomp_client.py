#!/usr/bin/python3
"""A TLS client under a seccomp filter that kills the process on one system
call: the uretprobe system call (x86-64 nr 335) in the tests, through which
a return from a uretprobe'd function goes on Linux 6.11-6.13. Used by the
e2e suite and by the kernel matrix's guests (python 3.9 there: stdlib only).

    seccomp_client.py check NR            the filter works: calling NR kills us (SIGSYS)
    seccomp_client.py direct NR           print what the kernel does with NR under the filter
    seccomp_client.py client NR PORT PREFIX [COUNT]
                                          install the filter, import ssl (maps libssl),
                                          print "READY <pid>", wait for a line on stdin,
                                          then GET PREFIX/0 .. PREFIX/COUNT-1 (default 3)
                                          from 127.0.0.1:PORT, one connection each,
                                          printing "STATUS <code>" per call
    seccomp_client.py exec NR PORT PREFIX [COUNT]
                                          the same, the filter inherited across an exec
"""

import ctypes
import os
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ALLOW = 0x7FFF0000
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
NR_SECCOMP = 317
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def kill_on(nr):
    # ld arch; not x86_64 -> allow; ld nr; nr == NR -> kill process; allow
    insns = [(0x20, 0, 0, 4),                         # BPF_LD|BPF_W|BPF_ABS seccomp_data.arch
             (0x15, 0, 3, AUDIT_ARCH_X86_64),         # BPF_JMP|BPF_JEQ|BPF_K
             (0x20, 0, 0, 0),                         # seccomp_data.nr
             (0x15, 0, 1, nr),
             (0x06, 0, 0, SECCOMP_RET_KILL_PROCESS),  # BPF_RET|BPF_K
             (0x06, 0, 0, SECCOMP_RET_ALLOW)]
    arr = (SockFilter * len(insns))(*[SockFilter(*i) for i in insns])
    prog = SockFprog(len(insns), arr)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(ctypes.c_long(NR_SECCOMP), ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(0),
                    ctypes.byref(prog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")


def main():
    mode, nr = sys.argv[1], int(sys.argv[2])
    kill_on(nr)
    if mode == "check":
        libc.syscall(ctypes.c_long(nr))
        print("ALIVE")
        return 0
    if mode == "direct":
        rc = libc.syscall(ctypes.c_long(nr))
        print("RETURNED %d errno %d" % (rc, ctypes.get_errno()))
        return 0
    if mode == "exec":  # no_new_privs is set: the filter stays across exec
        os.execv(sys.executable, [sys.executable, sys.argv[0], "client"] + sys.argv[2:])
    import http.client
    import ssl  # maps libssl (dlopen of _ssl), under the filter
    port, prefix = int(sys.argv[3]), sys.argv[4]
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    print("READY %d" % os.getpid(), flush=True)
    sys.stdin.readline()  # GO: the daemon has decided about us
    ctx = ssl._create_unverified_context()
    for i in range(count):
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=ctx)
        c.request("GET", "%s/%d?secret=1" % (prefix, i))
        r = c.getresponse()
        r.read()
        c.close()
        print("STATUS %d" % r.status, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
