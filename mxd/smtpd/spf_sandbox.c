/* spf_sandbox: see spf_sandbox.h. A seccomp filter written by hand (classic BPF): a list of allowed
 * system calls, everything else kills the process. */
#include "mxd/smtpd/spf_sandbox.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#else
#error "spf_sandbox: no seccomp filter for this architecture"
#endif

#define ALLOW(nr)                                                                                            \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* Signals only to ourselves: arg 0 (kill: pid; tgkill: tgid) must be our pid. */
#define ALLOW_SELF(nr, pid)                                                                                  \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 3),                                                     \
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),                      \
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (pid), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static int install_filter(const char **error_r)
{
	__u32 pid = (__u32)getpid();
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    /* the signal rules reload the number: they come first, after this load */
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    ALLOW_SELF(__NR_kill, pid),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    ALLOW_SELF(__NR_tgkill, pid),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
	    /* x32 system calls share the architecture: refuse them all */
	    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    ALLOW(__NR_time),
#endif
	    ALLOW(__NR_read),
	    ALLOW(__NR_write),
	    ALLOW(__NR_readv),
	    ALLOW(__NR_writev),
	    ALLOW(__NR_close),
	    ALLOW(__NR_brk),
	    ALLOW(__NR_mmap),
	    ALLOW(__NR_munmap),
	    ALLOW(__NR_mremap),
	    ALLOW(__NR_mprotect),
	    ALLOW(__NR_madvise),
	    ALLOW(__NR_futex),
	    ALLOW(__NR_clock_gettime),
	    ALLOW(__NR_gettimeofday),
	    ALLOW(__NR_getpid),
	    ALLOW(__NR_gettid),
	    ALLOW(__NR_getrandom),
	    ALLOW(__NR_sched_yield),
	    ALLOW(__NR_rt_sigreturn),
	    ALLOW(__NR_rt_sigprocmask),
	    ALLOW(__NR_rt_sigaction),
	    ALLOW(__NR_sigaltstack),
	    ALLOW(__NR_exit),
	    ALLOW(__NR_exit_group),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		*error_r = "cannot install the seccomp filter";
		return -1;
	}
	return 0;
}

static int drop_root(const char *user, const char **error_r)
{
	if (geteuid() != 0 && getuid() != 0)
		return 0;
	const struct passwd *pw = getpwnam(user[0] != '\0' ? user : "nobody");
	if (pw == NULL || pw->pw_uid == 0) {
		*error_r = "no unprivileged user to run as";
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		*error_r = "cannot switch to the unprivileged user";
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		*error_r = "root privileges could be regained";
		return -1;
	}
	return 0;
}

int spf_sandbox_enter(const char *user, const char **error_r)
{
	pid_t parent = getppid();
	if (drop_root(user, error_r) < 0)
		return -1;
	/* after the switch of user, which clears it: die with the thread that started us */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) {
		*error_r = "the parent is gone";
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*error_r = "cannot set no_new_privs";
		return -1;
	}
	return install_filter(error_r);
}
