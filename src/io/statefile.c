/*
 * statefile.c - atomic writes and checked reads of small state files
 * (include/dsb/statefile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/statefile.h"

static int statefile_errno(int e) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
    return DSB_ERR_NOT_FOUND;
  case EACCES:
  case EPERM:
  case EROFS:
    return DSB_ERR_PERMISSION;
  case ENAMETOOLONG:
    return DSB_ERR_INVALID_ARGUMENT;
  case EEXIST:
    return DSB_ERR_EXISTS;
  case ELOOP:
    /* O_NOFOLLOW met a symlink where a state file should be. */
    return DSB_ERR_STATEFILE_MODE;
  case ENOMEM:
    return DSB_ERR_NOMEM;
  default:
    return DSB_ERR_IO;
  }
}

int dsb_statefile_join(char *out, size_t outlen, const char *dir,
                       const char *name) {
  size_t dlen, nlen;
  int need_slash;

  if (!out || !dir || !name || !*dir || !*name) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dlen = strlen(dir);
  nlen = strlen(name);
  need_slash = dir[dlen - 1] != '/';
  if (dlen > SIZE_MAX - nlen - 2 || outlen < dlen + nlen + 2 - !need_slash) {
    return DSB_ERR_NOBUF;
  }
  memcpy(out, dir, dlen);
  if (need_slash) {
    out[dlen++] = '/';
  }
  memcpy(out + dlen, name, nlen + 1);
  return 0;
}

/* Split |path| into its directory (|dir|, "." when none) and base name. */
static int statefile_split(const char *path, char dir[static PATH_MAX],
                           const char **base) {
  const char *slash;
  size_t len;

  if (!path || !*path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  len = strlen(path);
  if (len >= PATH_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  slash = strrchr(path, '/');
  if (!slash) {
    memcpy(dir, ".", 2);
    *base = path;
  } else {
    size_t dlen = (size_t)(slash - path);
    if (dlen == 0) {
      dlen = 1; /* "/name": the root directory */
    }
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    *base = slash + 1;
  }
  if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return 0;
}

static int statefile_fsync_dir(const char *dir) {
  int fd, rv = 0;

  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return statefile_errno(errno);
  }
  if (fsync(fd) != 0) {
    rv = statefile_errno(errno);
  }
  (void)close(fd);
  return rv;
}

static int statefile_write_all(int fd, const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return statefile_errno(errno);
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Put |tmp| at |path| without replacing anything already there. */
static int statefile_link_noreplace(const char *tmp, const char *path) {
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return statefile_errno(errno);
  }
  /* Filesystems without RENAME_NOREPLACE: link() fails atomically with
   * EEXIST as well; the temporary name is removed by the caller. */
  if (link(tmp, path) != 0) {
    return statefile_errno(errno);
  }
  (void)unlink(tmp);
  return 0;
}

#define STATEFILE_REPLACE 0
#define STATEFILE_NOREPLACE 1

static int statefile_write(const char *path, const uint8_t *data, size_t len,
                           mode_t mode, int how) {
  char dir[PATH_MAX];
  char tmp[PATH_MAX];
  const char *base;
  int fd = -1, rv, n;

  if (!data && len > 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = statefile_split(path, dir, &base);
  if (rv != 0) {
    return rv;
  }
  /* Same directory, so the rename cannot cross filesystems; a dot name so
   * listings and globbing skip a leftover after a crash. */
  n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-XXXXXX", dir, base);
  if (n < 0 || (size_t)n >= sizeof(tmp)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    return statefile_errno(errno);
  }
  if (fchmod(fd, mode & 07777) != 0) {
    rv = statefile_errno(errno);
    goto fail_tmp;
  }
  rv = statefile_write_all(fd, data, len);
  if (rv != 0) {
    goto fail_tmp;
  }
  if (fsync(fd) != 0) {
    rv = statefile_errno(errno);
    goto fail_tmp;
  }
  rv = close(fd);
  fd = -1;
  if (rv != 0) {
    rv = statefile_errno(errno);
    goto fail_tmp;
  }
  if (how == STATEFILE_NOREPLACE) {
    rv = statefile_link_noreplace(tmp, path);
    if (rv != 0) {
      goto fail_tmp;
    }
  } else if (rename(tmp, path) != 0) {
    rv = statefile_errno(errno);
    goto fail_tmp;
  }
  return statefile_fsync_dir(dir);

fail_tmp:
  if (fd >= 0) {
    (void)close(fd);
  }
  (void)unlink(tmp);
  return rv;
}

int dsb_statefile_write_atomic(const char *path, const uint8_t *data,
                               size_t len, mode_t mode) {
  return statefile_write(path, data, len, mode, STATEFILE_REPLACE);
}

int dsb_statefile_create_atomic(const char *path, const uint8_t *data,
                                size_t len, mode_t mode) {
  return statefile_write(path, data, len, mode, STATEFILE_NOREPLACE);
}

/* Open |path| for reading and check type, owner and mode. */
static int statefile_open_checked(const char *path, mode_t max_mode, int *pfd,
                                  struct stat *st) {
  int fd;

  if (!path || !*path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* O_NOFOLLOW: a symlink could point the daemon at another file;
   * O_NONBLOCK: a FIFO planted at the path must not hang the open. */
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return statefile_errno(errno);
  }
  if (fstat(fd, st) != 0) {
    int rv = statefile_errno(errno);
    (void)close(fd);
    return rv;
  }
  if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
      (st->st_mode & 07777 & ~max_mode) != 0) {
    (void)close(fd);
    return DSB_ERR_STATEFILE_MODE;
  }
  *pfd = fd;
  return 0;
}

/* Read until EOF or |cap| bytes; *plen gets what was read. */
static int statefile_read_fd(int fd, uint8_t *buf, size_t cap, size_t *plen) {
  size_t got = 0;

  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return statefile_errno(errno);
    }
    if (n == 0) {
      break;
    }
    got += (size_t)n;
  }
  *plen = got;
  return 0;
}

/* 0 at EOF, DSB_ERR_LIMIT when more bytes follow. */
static int statefile_expect_eof(int fd) {
  uint8_t probe;

  for (;;) {
    ssize_t n = read(fd, &probe, 1);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return statefile_errno(errno);
    }
    return n == 0 ? 0 : DSB_ERR_LIMIT;
  }
}

int dsb_statefile_read(const char *path, uint8_t *buf, size_t cap, size_t *plen,
                       mode_t max_mode) {
  struct stat st;
  size_t got = 0;
  int fd, rv;

  if ((!buf && cap > 0) || !plen) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = statefile_open_checked(path, max_mode, &fd, &st);
  if (rv != 0) {
    return rv;
  }
  rv = statefile_read_fd(fd, buf, cap, &got);
  if (rv == 0 && got == cap) {
    rv = statefile_expect_eof(fd);
  }
  (void)close(fd);
  if (rv != 0) {
    dsb_wipe(buf, got);
    return rv;
  }
  *plen = got;
  return 0;
}

int dsb_statefile_read_alloc(const char *path, const dsb_mem *mem,
                             size_t maxlen, uint8_t **pbuf, size_t *plen,
                             mode_t max_mode) {
  struct stat st;
  uint8_t *buf = NULL;
  size_t cap, got = 0;
  int fd, rv;

  if (!pbuf || !plen || maxlen >= SIZE_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = statefile_open_checked(path, max_mode, &fd, &st);
  if (rv != 0) {
    return rv;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > maxlen) {
    rv = DSB_ERR_LIMIT;
    goto out;
  }
  /* The size is a hint (the file could still change under us); the loop
   * grows the buffer up to |maxlen| and never beyond. */
  cap = (size_t)st.st_size < 64 ? 64 : (size_t)st.st_size;
  if (cap > maxlen) {
    cap = maxlen;
  }
  buf = dsb_mem_malloc(mem, cap + 1);
  if (!buf) {
    rv = DSB_ERR_NOMEM;
    goto out;
  }
  for (;;) {
    size_t n = 0;
    rv = statefile_read_fd(fd, buf + got, cap - got, &n);
    if (rv != 0) {
      goto out;
    }
    got += n;
    if (got < cap) {
      break;
    }
    if (cap == maxlen) {
      rv = statefile_expect_eof(fd);
      if (rv != 0) {
        goto out;
      }
      break;
    }
    {
      /* Grow by copy rather than realloc so the old bytes (maybe a key)
       * are wiped, not left in freed memory. */
      size_t ncap = cap > maxlen / 2 ? maxlen : cap * 2;
      uint8_t *nbuf = dsb_mem_malloc(mem, ncap + 1);
      if (!nbuf) {
        rv = DSB_ERR_NOMEM;
        goto out;
      }
      memcpy(nbuf, buf, got);
      dsb_wipe(buf, got);
      dsb_mem_free(mem, buf);
      buf = nbuf;
      cap = ncap;
    }
  }
  buf[got] = '\0';
  *pbuf = buf;
  *plen = got;
  buf = NULL;

out:
  if (buf) {
    dsb_wipe(buf, got);
    dsb_mem_free(mem, buf);
  }
  (void)close(fd);
  return rv;
}

static int statefile_check_dir(const char *path) {
  struct stat st;

  if (stat(path, &st) != 0) {
    return statefile_errno(errno);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 022) != 0) {
    return DSB_ERR_STATEFILE_MODE;
  }
  return 0;
}

int dsb_statefile_ensure_dir(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  size_t len;

  if (!path || !*path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  len = strlen(path);
  if (len >= sizeof(buf)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memcpy(buf, path, len + 1);
  /* Create each missing component in turn, like mkdir -p; a new directory
   * entry is made durable by syncing its parent. */
  for (size_t i = 1; i <= len; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') {
      continue;
    }
    if (buf[i - 1] == '/') {
      continue; /* "//" */
    }
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, mode & 07777) == 0) {
      char parent[PATH_MAX];
      const char *base;
      if (statefile_split(buf, parent, &base) == 0) {
        (void)statefile_fsync_dir(parent);
      }
    } else if (errno != EEXIST) {
      int rv = statefile_errno(errno);
      buf[i] = saved;
      return rv;
    }
    buf[i] = saved;
  }
  return statefile_check_dir(path);
}
