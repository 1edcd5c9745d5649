/* file.h — small file helpers shared by the loaders. */
#ifndef MV_BASE_FILE_H
#define MV_BASE_FILE_H

#include <stddef.h>

#include "minivl.h"

/* Read a whole file into a NUL-terminated buffer (free with free()); fails with MV_ERR_FORMAT when the
 * file is larger than limit, so a hostile input cannot make us allocate without bound. */
char *mv_read_file(const char *path, size_t limit, size_t *len, mv_error *err);

/* "dir/name", malloc'd; NULL when out of memory. */
char *mv_path_join(const char *dir, const char *name);

/* mkdir -p: create dir and its missing parents (MV_ERR_IO naming the one that failed). */
mv_status mv_make_dirs(const char *dir, mv_error *err);

/* Copy a file's bytes to dst (created or truncated); dst is removed again on failure. */
mv_status mv_copy_file(const char *src, const char *dst, mv_error *err);

#endif
