/*
 * spf_sandbox: the confinement of the SPF helper process (spf_helper.c). Once entered, the process runs
 * as an unprivileged user, cannot gain privileges (PR_SET_NO_NEW_PRIVS), and a seccomp filter allows it
 * only computation on what it already holds: reading and writing descriptors it has, memory, time,
 * signals to itself, exit. Any other system call (open, socket, connect, execve, fork, ptrace, kill of
 * another process, ...) kills the process. No way back: there is no function to leave it.
 */
#ifndef MXD_SPF_SANDBOX_H
#define MXD_SPF_SANDBOX_H

/* When running as root, switch for good to user (its uid, gid, no supplementary groups; "nobody" when
 * user is empty); then die with the parent (PR_SET_PDEATHSIG), no new privileges, then the filter. Call
 * before any thread starts. 0, or -1 with *error_r (static); after -1 the caller must exit. */
int spf_sandbox_enter(const char *user, const char **error_r);

#endif
