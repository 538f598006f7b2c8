/*
 * privs: the privilege boundary. mxd binds port 25 as root, then runs as mail_owner; mxctl drops to
 * mail_owner too so that files it creates (the database's -wal and -shm) stay usable by mxd.
 * An empty mail_owner keeps the current user (tests, unprivileged runs).
 */
#ifndef MXD_PRIVS_H
#define MXD_PRIVS_H

/* When running as root: give the directories (created if missing) and files in paths (NULL-terminated;
 * missing files are skipped) to mail_owner (the group is kept unless it is root's, so an administrator
 * can share them through a group, as the package does with mxdb), then switch user and groups to it for good.
 * Symbolic links are never followed: a path that is one, a file with another hard link, or a path of the
 * wrong type is refused with an error naming it (mail_owner can create files beside the database). Not root,
 * or mail_owner empty: does nothing. 0, or -1 with *error_r. */
int privs_drop(const char *mail_owner, const char *const *dirs, const char *const *files,
               const char **error_r);

#endif
