/*
 * spf_helper: the SPF helper process, the only place libspf2 runs. mxd's SPF workers (spf.c) start it
 * by executing their own program again as
 *     <program> SPF_HELPER_ARG <receiver> <user>
 * with nothing open but the socket to mxd on descriptor 3 (0 and 1 on /dev/null, 2 mxd's stderr). It
 * sets up libspf2 (receiver names us in explanations), enters the sandbox (spf_sandbox.h: switches to
 * user when started as root, then the seccomp filter), says READY and then evaluates one check at a
 * time, asking mxd for every DNS lookup (spf_proto.h). It holds no secret and reaches nothing but the
 * socket: a record that exploits libspf2 gets a process that can only talk nonsense to mxd, which
 * treats what it says as hostile. It exits when mxd closes the socket, or dies with it.
 */
#ifndef MXD_SPF_HELPER_H
#define MXD_SPF_HELPER_H

#define SPF_HELPER_ARG "--spf-helper"
#define SPF_HELPER_FD  3

/* Every program that creates an SPF checker (spf_new()) calls this first thing in main(): when argv
 * asks for the helper, it runs it and never returns; otherwise it returns at once. */
void spf_helper_dispatch(int argc, char **argv);

#endif
