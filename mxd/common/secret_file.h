/*
 * secret_file: opening the files that hold secrets (srs_secret_file, sync_secret_file), with the same
 * rules for each: a regular file (a symlink to one is followed: /etc/mxd/x.secret may point into a
 * secrets store) that "other" users cannot read, write or run (mode & 0007 == 0). The error names the
 * setting, the path and what to do; it never quotes the file's content. Thread-safe.
 */
#ifndef MXD_SECRET_FILE_H
#define MXD_SECRET_FILE_H

/* Open path for reading. The descriptor (O_CLOEXEC), or -1 with *error_r ("<setting> <path>: ...",
 * thread-local storage). */
int secret_file_open(const char *setting, const char *path, const char **error_r);

#endif
