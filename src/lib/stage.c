/*
 * Staging: a per-open-file write buffer over one dataset's byte image.
 *
 * Invariants (checked by test_stage.c against a model):
 * - ext[0..next) is sorted, non-overlapping and non-adjacent, and every
 *   extent lies inside [0, size);
 * - base_limit <= size and base_limit <= base_size; bytes at or above
 *   base_limit that are not dirty read as 0;
 * - in memory (fd < 0), mem[0..mem_len) mirrors the image's offsets and
 *   every extent ends at or below mem_len <= mem_limit;
 * - in a file (fd >= 0), the staging file mirrors the image's offsets,
 *   and bytes outside the extents read as 0 (holes, or cut away by
 *   ftruncate() when the image shrank), so a materialised file needs no
 *   zeroing;
 * - with a sink (sink_fd >= 0), the dirty bytes inside the window
 *   [sink_lo, sink_hi) live in the sink file at sink_off + (offset -
 *   sink_lo), and only there: what mem or the staging file hold inside
 *   the window is stale and never read (and never written once the sink
 *   is set);
 * - a failed operation leaves the stage as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "h5fs/sys/stage.h"

struct h5fs_stage {
	uint64_t size;
	uint64_t base_size;
	uint64_t base_limit;
	h5fs_stage_extent *ext;
	size_t next, aext;
	unsigned char *mem;
	size_t mem_len, mem_alloc, mem_limit;
	int fd;
	char *dir;		/* staging folder (resolved) */
	bool own_dir;		/* the default folder: remove it when empty */
	char *file;		/* staging file path, when fd >= 0 */
	/* the sink (h5fs_stage_sink_set): window [sink_lo, sink_hi) at sink_off */
	int sink_fd;
	uint64_t sink_lo, sink_hi, sink_off;
	bool sink_frozen;	/* committed: the next write into it drops it first */
	char *sink_path;
};

/* Reads and writes of the staging file move at most this much at once. */
#define COPY_CHUNK ((size_t)1 << 20)

static int stage_bounds(uint64_t off, uint64_t len)
{
	if (off > H5FS_STAGE_MAX_SIZE || len > H5FS_STAGE_MAX_SIZE - off) {
		h5fs__error_set(H5FS_ERROR_INVALID, "staged range at %llu of %llu bytes is past the largest file size",
				(unsigned long long)off, (unsigned long long)len);
		return H5FS_EINVALID;
	}
	return 0;
}

/* The default folder: ".NAME.h5fs-staging" beside the HDF5 file. */
static int default_dir(char **out, const char *hdf5_path)
{
	const char *slash = strrchr(hdf5_path, '/');
	const char *base = slash ? slash + 1 : hdf5_path;
	h5fs_buf b = H5FS_BUF_INIT;

	if (!*base) {
		h5fs__error_set(H5FS_ERROR_INVALID, "no file name in '%s' for a staging folder", hdf5_path);
		return H5FS_EINVALID;
	}
	if (slash)
		h5fs_buf_put(&b, hdf5_path, (size_t)(slash - hdf5_path) + 1);
	h5fs_buf_printf(&b, ".%s.h5fs-staging", base);
	if (h5fs_buf_check(&b) < 0) {
		h5fs_buf_release(&b);
		return H5FS_ENOMEM;
	}
	*out = h5fs_buf_detach(&b, NULL);
	return 0;
}

int h5fs_stage_new(h5fs_stage **out, uint64_t base_size, const h5fs_stage_options *opts)
{
	h5fs_stage_options defaults = H5FS_STAGE_OPTIONS_INIT;
	h5fs_stage *st;
	int error = 0;

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != H5FS_STAGE_OPTIONS_VERSION) {
		h5fs__error_set(H5FS_ERROR_INVALID, "unknown stage options version %u", opts->version);
		return H5FS_EINVALID;
	}
	if ((error = stage_bounds(base_size, 0)) < 0)
		return error;
	if (!(st = calloc(1, sizeof(*st))))
		return h5fs__error_oom();
	st->size = st->base_size = st->base_limit = base_size;
	st->mem_limit = opts->mem_limit;
	st->fd = -1;
	st->sink_fd = -1;
	if (opts->staging_dir) {
		if (!(st->dir = h5fs__strdup(opts->staging_dir)))
			error = H5FS_ENOMEM;
	} else if (opts->hdf5_path) {
		error = default_dir(&st->dir, opts->hdf5_path);
		st->own_dir = true;
	}
	if (error < 0) {
		free(st);
		return error;
	}
	*out = st;
	return 0;
}

void h5fs_stage_free(h5fs_stage *st)
{
	if (!st)
		return;
	if (st->fd >= 0) {
		close(st->fd);
		unlink(st->file);
		if (st->own_dir)
			rmdir(st->dir);	/* fails harmlessly while others use it */
	}
	if (st->sink_fd >= 0)
		close(st->sink_fd);
	free(st->sink_path);
	free(st->file);
	free(st->dir);
	free(st->ext);
	free(st->mem);
	free(st);
}

uint64_t h5fs_stage_size(const h5fs_stage *st)
{
	return st ? st->size : 0;
}

void h5fs_stage_info_get(const h5fs_stage *st, h5fs_stage_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	out->size = st->size;
	out->base_size = st->base_size;
	out->base_limit = st->base_limit;
	out->extents = st->next;
	for (size_t i = 0; i < st->next; i++)
		out->dirty_bytes += st->ext[i].len;
	out->in_file = st->fd >= 0;
	out->changed = st->next > 0 || st->size != st->base_size || st->base_limit < st->base_size;
}

void h5fs_stage_extents(const h5fs_stage *st, const h5fs_stage_extent **out, size_t *count)
{
	*out = st ? st->ext : NULL;
	*count = st ? st->next : 0;
}

const char *h5fs_stage_path(const h5fs_stage *st)
{
	return st && st->fd >= 0 ? st->file : NULL;
}

/* ---- the staging file ------------------------------------------------ */

static int full_pwrite_what(int fd, const void *buf, size_t len, uint64_t off, const char *what, const char *path)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len > COPY_CHUNK ? COPY_CHUNK : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			h5fs__error_set(H5FS_ERROR_OS, "cannot write %s '%s': %s", what, path,
					n < 0 ? strerror(errno) : "short write");
			return H5FS_ERROR;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int full_pread_what(int fd, void *buf, size_t len, uint64_t off, const char *what, const char *path)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len > COPY_CHUNK ? COPY_CHUNK : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h5fs__error_set(H5FS_ERROR_OS, "cannot read %s '%s': %s", what, path, strerror(errno));
			return H5FS_ERROR;
		}
		if (n == 0) {	/* a hole cut off at the end: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off, const char *path)
{
	return full_pwrite_what(fd, buf, len, off, "staging file", path);
}

static int full_pread(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	return full_pread_what(fd, buf, len, off, "staging file", path);
}

/* ---- the sink window -------------------------------------------------- */

/*
 * The parts of [a, b) outside the sink window (all of it without a
 * sink): up to two ranges, written to @p out; returns how many.
 */
static int outside_window(const h5fs_stage *st, uint64_t a, uint64_t b, uint64_t out[2][2])
{
	int n = 0;

	if (st->sink_fd < 0 || b <= st->sink_lo || a >= st->sink_hi) {
		if (a < b) {
			out[0][0] = a;
			out[0][1] = b;
			n = 1;
		}
		return n;
	}
	if (a < st->sink_lo) {
		out[n][0] = a;
		out[n][1] = st->sink_lo;
		n++;
	}
	if (b > st->sink_hi) {
		out[n][0] = st->sink_hi;
		out[n][1] = b;
		n++;
	}
	return n;
}

/* The part of [a, b) inside the sink window; false when there is none. */
static bool inside_window(const h5fs_stage *st, uint64_t a, uint64_t b, uint64_t *wa, uint64_t *wb)
{
	if (st->sink_fd < 0 || b <= st->sink_lo || a >= st->sink_hi || a >= b)
		return false;
	*wa = a > st->sink_lo ? a : st->sink_lo;
	*wb = b < st->sink_hi ? b : st->sink_hi;
	return true;
}

/* Make the private folder, or accept ours: a real directory, ours, 0700. */
static int ensure_dir(const char *dir, bool own)
{
	struct stat sb;

	if (own && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot make staging folder '%s': %s", dir, strerror(errno));
		return H5FS_ERROR;
	}
	if (lstat(dir, &sb) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot use staging folder '%s': %s", dir, strerror(errno));
		return H5FS_ERROR;
	}
	if (!S_ISDIR(sb.st_mode)) {
		h5fs__error_set(H5FS_ERROR_OS, "staging folder '%s' is not a directory", dir);
		return H5FS_ERROR;
	}
	if (own && (sb.st_uid != geteuid() || (sb.st_mode & 077))) {
		h5fs__error_set(H5FS_ERROR_OS, "staging folder '%s' is not private (owner %u, mode %o)",
				dir, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
		return H5FS_ERROR;
	}
	return 0;
}

/* A new empty staging file in the folder; sets st->fd and st->file. */
static int open_file(h5fs_stage *st)
{
	char *path = NULL;
	int fd = -1, error = 0;

	if (!st->dir) {
		h5fs__error_set(H5FS_ERROR_INVALID, "no staging folder: give staging_dir or hdf5_path");
		return H5FS_EINVALID;
	}
	/* retry: another stage may remove the empty default folder meanwhile */
	for (int attempt = 0; attempt < 3; attempt++) {
		if ((error = ensure_dir(st->dir, st->own_dir)) < 0)
			return error;
		free(path);
		if (asprintf(&path, "%s/stage-XXXXXX", st->dir) < 0) {
			path = NULL;
			return h5fs__error_oom();
		}
		if ((fd = mkostemp(path, O_CLOEXEC)) >= 0 || errno != ENOENT || !st->own_dir)
			break;
	}
	if (fd < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot make a staging file in '%s': %s", st->dir, strerror(errno));
		free(path);
		return H5FS_ERROR;
	}
	st->fd = fd;
	st->file = path;
	return 0;
}

int h5fs_stage_spill(h5fs_stage *st)
{
	int error;

	H5FS_ASSERT_ARG(st);
	if (st->fd >= 0)
		return 0;
	if ((error = open_file(st)) < 0)
		return error;
	for (size_t i = 0; i < st->next; i++) {
		uint64_t part[2][2];
		int np = outside_window(st, st->ext[i].off, st->ext[i].off + st->ext[i].len, part);

		for (int k = 0; k < np; k++) {
			if ((error = full_pwrite(st->fd, st->mem + part[k][0], (size_t)(part[k][1] - part[k][0]),
						 part[k][0], st->file)) < 0) {
				close(st->fd);
				unlink(st->file);
				free(st->file);
				st->file = NULL;
				st->fd = -1;
				return error;
			}
		}
	}
	free(st->mem);
	st->mem = NULL;
	st->mem_len = st->mem_alloc = 0;
	return 0;
}

/* ---- the extent list ------------------------------------------------- */

/* The first extent whose end is past @p off. */
static size_t first_after(const h5fs_stage *st, uint64_t off)
{
	size_t lo = 0, hi = st->next;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->ext[mid].off + st->ext[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more extent (so the insert itself cannot fail). */
static int reserve_extent(h5fs_stage *st)
{
	h5fs_stage_extent *grown;
	size_t n;

	if (st->next < st->aext)
		return 0;
	n = st->aext ? st->aext * 2 : 16;
	if (n > SIZE_MAX / sizeof(*grown) || !(grown = realloc(st->ext, n * sizeof(*grown))))
		return h5fs__error_oom();
	st->ext = grown;
	st->aext = n;
	return 0;
}

/* Add [off, off + len) to the list, merging with overlapping or adjacent ranges. */
static void add_extent(h5fs_stage *st, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	size_t i, j;

	if (!len)
		return;
	/* the first extent that touches or follows [off, end) */
	i = off ? first_after(st, off - 1) : 0;
	j = i;
	while (j < st->next && st->ext[j].off <= end) {
		uint64_t e = st->ext[j].off + st->ext[j].len;

		if (st->ext[j].off < off)
			off = st->ext[j].off;
		if (e > end)
			end = e;
		j++;
	}
	if (j == i) {	/* no overlap: insert at i */
		memmove(st->ext + i + 1, st->ext + i, (st->next - i) * sizeof(*st->ext));
		st->next++;
	} else if (j > i + 1) {	/* several merge into ext[i] */
		memmove(st->ext + i + 1, st->ext + j, (st->next - j) * sizeof(*st->ext));
		st->next -= j - i - 1;
	}
	st->ext[i].off = off;
	st->ext[i].len = end - off;
}

/* ---- writes and truncation ------------------------------------------- */

static int mem_reserve(h5fs_stage *st, size_t end)
{
	unsigned char *grown;
	size_t n;

	if (end <= st->mem_alloc)
		return 0;
	n = st->mem_alloc ? st->mem_alloc : 4096;
	while (n < end)
		n = n > SIZE_MAX / 2 ? end : n * 2;
	if (n > st->mem_limit)
		n = st->mem_limit;
	if (!(grown = realloc(st->mem, n)))
		return h5fs__error_oom();
	st->mem = grown;
	st->mem_alloc = n;
	return 0;
}

/* Store bytes in memory or the staging file (not the sink). */
static int store_write(h5fs_stage *st, const unsigned char *buf, size_t len, uint64_t off)
{
	uint64_t end = off + len;
	int error;

	if (st->fd < 0 && end > st->mem_limit && (error = h5fs_stage_spill(st)) < 0)
		return error;
	if (st->fd >= 0)
		return full_pwrite(st->fd, buf, len, off, st->file);
	if ((error = mem_reserve(st, (size_t)end)) < 0)
		return error;
	if (off > st->mem_len)
		memset(st->mem + st->mem_len, 0, (size_t)off - st->mem_len);
	memcpy(st->mem + off, buf, len);
	if (end > st->mem_len)
		st->mem_len = (size_t)end;
	return 0;
}

int h5fs_stage_write(h5fs_stage *st, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *src = buf;
	uint64_t end, part[2][2], wa, wb;
	int error, np;

	H5FS_ASSERT_ARG(st && (buf || !len));
	if ((error = stage_bounds(off, len)) < 0)
		return error;
	if (!len)
		return 0;
	end = off + len;
	if ((error = reserve_extent(st)) < 0)
		return error;
	/* a committed sink holds a live dataset's bytes: take them back first */
	if (st->sink_frozen && inside_window(st, off, end, &wa, &wb) && (error = h5fs_stage_sink_drop(st)) < 0)
		return error;
	if (inside_window(st, off, end, &wa, &wb) &&
	    (error = full_pwrite_what(st->sink_fd, src + (wa - off), (size_t)(wb - wa), st->sink_off + (wa - st->sink_lo),
				      "sink", st->sink_path)) < 0)
		return error;
	np = outside_window(st, off, end, part);
	for (int k = 0; k < np; k++)
		if ((error = store_write(st, src + (part[k][0] - off), (size_t)(part[k][1] - part[k][0]), part[k][0])) < 0)
			return error;
	add_extent(st, off, len);
	if (end > st->size)
		st->size = end;
	return 0;
}

int h5fs_stage_truncate(h5fs_stage *st, uint64_t size)
{
	size_t i;
	int error;

	H5FS_ASSERT_ARG(st);
	if ((error = stage_bounds(size, 0)) < 0)
		return error;
	if (size < st->size) {
		if (st->fd >= 0 && ftruncate(st->fd, (off_t)size) < 0) {
			h5fs__error_set(H5FS_ERROR_OS, "cannot truncate staging file '%s': %s", st->file, strerror(errno));
			return H5FS_ERROR;
		}
		i = first_after(st, size);
		if (i < st->next && st->ext[i].off < size) {
			st->ext[i].len = size - st->ext[i].off;
			i++;
		}
		st->next = i;
		if (st->mem_len > size)
			st->mem_len = (size_t)size;
		if (st->base_limit > size)
			st->base_limit = size;
	}
	st->size = size;
	return 0;
}

void h5fs_stage_mark_committed(h5fs_stage *st)
{
	if (!st)
		return;
	st->next = 0;
	st->base_size = st->base_limit = st->size;
	st->mem_len = 0;
	if (st->fd >= 0 && ftruncate(st->fd, 0) < 0) {
		/* only disk space is at stake; the extents are gone */
	}
	/* nothing is dirty: the sink holds nothing the stage needs */
	if (st->sink_fd >= 0)
		close(st->sink_fd);
	free(st->sink_path);
	st->sink_path = NULL;
	st->sink_fd = -1;
	st->sink_frozen = false;
	st->sink_lo = st->sink_hi = st->sink_off = 0;
}

/* ---- reads ----------------------------------------------------------- */

/* Copy staged (dirty) bytes [off, off + len) into @p buf. */
static int copy_dirty(const h5fs_stage *st, unsigned char *buf, size_t len, uint64_t off)
{
	uint64_t part[2][2], wa, wb;
	int np = outside_window(st, off, off + len, part), error;

	if (inside_window(st, off, off + len, &wa, &wb) &&
	    (error = full_pread_what(st->sink_fd, buf + (wa - off), (size_t)(wb - wa), st->sink_off + (wa - st->sink_lo),
				     "sink", st->sink_path)) < 0)
		return error;
	for (int k = 0; k < np; k++) {
		unsigned char *dst = buf + (part[k][0] - off);
		size_t n = (size_t)(part[k][1] - part[k][0]);

		if (st->fd >= 0) {
			if ((error = full_pread(st->fd, dst, n, part[k][0], st->file)) < 0)
				return error;
		} else {
			memcpy(dst, st->mem + part[k][0], n);
		}
	}
	return 0;
}

int h5fs_stage_read(const h5fs_stage *st, void *buf, size_t size, uint64_t off, size_t *nread, h5fs_stage_base_fn base, void *payload)
{
	unsigned char *out = buf;
	uint64_t end, pos;
	size_t i;
	int error;

	H5FS_ASSERT_ARG(st && nread && (buf || !size));
	*nread = 0;
	if (off >= st->size || !size)
		return 0;
	end = st->size - off < size ? st->size : off + size;
	i = first_after(st, off);
	for (pos = off; pos < end;) {
		uint64_t next;

		if (i < st->next && st->ext[i].off <= pos) {
			next = st->ext[i].off + st->ext[i].len;
			if (next > end)
				next = end;
			if ((error = copy_dirty(st, out + (pos - off), (size_t)(next - pos), pos)) < 0)
				return error;
			i++;
		} else {
			next = i < st->next && st->ext[i].off < end ? st->ext[i].off : end;
			/* below the base limit: the dataset's; above: zeros */
			if (pos < st->base_limit) {
				uint64_t stop = next < st->base_limit ? next : st->base_limit;

				if (base && (error = base(out + (pos - off), (size_t)(stop - pos), pos, payload)) < 0)
					return error;
				pos = stop;
				if (pos < next)
					memset(out + (pos - off), 0, (size_t)(next - pos));
			} else {
				memset(out + (pos - off), 0, (size_t)(next - pos));
			}
		}
		pos = next;
	}
	*nread = (size_t)(end - off);
	return 0;
}

int h5fs_stage_materialize(h5fs_stage *st, h5fs_stage_base_fn base, void *payload)
{
	unsigned char *buf = NULL;
	uint64_t pos = 0;
	int error;

	H5FS_ASSERT_ARG(st);
	if ((error = reserve_extent(st)) < 0 || (error = h5fs_stage_sink_drop(st)) < 0 ||
	    (error = h5fs_stage_spill(st)) < 0)
		return error;
	/* fill the gaps below the base limit from the dataset */
	for (size_t i = 0; pos < st->base_limit; i++) {
		uint64_t stop = i < st->next ? st->ext[i].off : st->size;

		if (stop > st->base_limit)
			stop = st->base_limit;
		while (pos < stop) {
			size_t n = stop - pos > COPY_CHUNK ? COPY_CHUNK : (size_t)(stop - pos);

			if (!buf && !(buf = malloc(COPY_CHUNK))) {
				error = h5fs__error_oom();
				goto out;
			}
			if (!base) {
				h5fs__error_set(H5FS_ERROR_INVALID, "materializing a stage needs the dataset's bytes");
				error = H5FS_EINVALID;
				goto out;
			}
			if ((error = base(buf, n, pos, payload)) < 0 ||
			    (error = full_pwrite(st->fd, buf, n, pos, st->file)) < 0)
				goto out;
			pos += n;
		}
		if (i < st->next)
			pos = st->ext[i].off + st->ext[i].len;
		else
			break;
	}
	if (ftruncate(st->fd, (off_t)st->size) < 0 || fsync(st->fd) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot sync staging file '%s': %s", st->file, strerror(errno));
		error = H5FS_ERROR;
		goto out;
	}
	st->next = 0;
	add_extent(st, 0, st->size);
out:
	free(buf);
	return error;
}

/* ---- the sink ---------------------------------------------------------- */

int h5fs_stage_sink_set(h5fs_stage *st, const char *path, uint64_t file_off, uint64_t lo, uint64_t hi)
{
	unsigned char *buf = NULL;
	int fd, error = 0;

	H5FS_ASSERT_ARG(st && path);
	if ((error = stage_bounds(lo, hi >= lo ? hi - lo : 0)) < 0 || (error = stage_bounds(file_off, hi - lo)) < 0)
		return error;
	if (st->sink_fd >= 0 || hi <= lo || lo < st->base_limit) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot send [%llu, %llu) of the stage to '%s': %s",
				(unsigned long long)lo, (unsigned long long)hi, path,
				st->sink_fd >= 0 ? "it has a sink already" : hi <= lo ? "empty window" :
				"the window overlaps the dataset's bytes");
		return H5FS_EINVALID;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot open sink '%s': %s", path, strerror(errno));
		return H5FS_ERROR;
	}
	/* the bytes staged in the window so far move to the sink */
	for (size_t i = first_after(st, lo); i < st->next && st->ext[i].off < hi; i++) {
		uint64_t a = st->ext[i].off > lo ? st->ext[i].off : lo;
		uint64_t b = st->ext[i].off + st->ext[i].len < hi ? st->ext[i].off + st->ext[i].len : hi;

		while (a < b) {
			size_t n = b - a > COPY_CHUNK ? COPY_CHUNK : (size_t)(b - a);

			if (!buf && !(buf = malloc(COPY_CHUNK))) {
				error = h5fs__error_oom();
				goto out;
			}
			if ((error = copy_dirty(st, buf, n, a)) < 0 ||
			    (error = full_pwrite_what(fd, buf, n, file_off + (a - lo), "sink", path)) < 0)
				goto out;
			a += n;
		}
	}
	if (!(st->sink_path = h5fs__strdup(path))) {
		error = H5FS_ENOMEM;
		goto out;
	}
	st->sink_fd = fd;
	st->sink_off = file_off;
	st->sink_lo = lo;
	st->sink_hi = hi;
	st->sink_frozen = false;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return error;
}

int h5fs_stage_sink_get(const h5fs_stage *st, uint64_t *file_off, uint64_t *lo, uint64_t *hi)
{
	if (!st || st->sink_fd < 0 || st->sink_frozen)
		return 0;
	if (file_off)
		*file_off = st->sink_off;
	if (lo)
		*lo = st->sink_lo;
	if (hi)
		*hi = st->sink_hi;
	return 1;
}

void h5fs_stage_sink_freeze(h5fs_stage *st)
{
	if (st && st->sink_fd >= 0)
		st->sink_frozen = true;
}

int h5fs_stage_sink_fill(h5fs_stage *st)
{
	unsigned char *zeros = NULL;
	uint64_t end, pos;
	size_t i;
	int error = 0;

	H5FS_ASSERT_ARG(st);
	if (st->sink_fd < 0)
		return 0;
	end = st->size < st->sink_hi ? st->size : st->sink_hi;
	i = first_after(st, st->sink_lo);
	for (pos = st->sink_lo; pos < end;) {
		uint64_t next;

		if (i < st->next && st->ext[i].off <= pos) {
			pos = st->ext[i].off + st->ext[i].len;
			i++;
			continue;
		}
		next = i < st->next && st->ext[i].off < end ? st->ext[i].off : end;
		while (pos < next) {
			size_t n = next - pos > COPY_CHUNK ? COPY_CHUNK : (size_t)(next - pos);

			if (!zeros && !(zeros = calloc(1, COPY_CHUNK))) {
				error = h5fs__error_oom();
				goto out;
			}
			if ((error = full_pwrite_what(st->sink_fd, zeros, n, st->sink_off + (pos - st->sink_lo), "sink",
						      st->sink_path)) < 0)
				goto out;
			pos += n;
		}
	}
out:
	free(zeros);
	return error;
}

int h5fs_stage_sink_drop(h5fs_stage *st)
{
	unsigned char *buf = NULL;
	uint64_t top = 0;
	size_t i, first;
	int error = 0;

	H5FS_ASSERT_ARG(st);
	if (st->sink_fd < 0)
		return 0;
	first = first_after(st, st->sink_lo);
	for (i = first; i < st->next && st->ext[i].off < st->sink_hi; i++)
		top = st->ext[i].off + st->ext[i].len < st->sink_hi ? st->ext[i].off + st->ext[i].len : st->sink_hi;
	/* spill before copying: a spill in between would skip what was copied */
	if (st->fd < 0 && top > st->mem_limit && (error = h5fs_stage_spill(st)) < 0)
		return error;
	for (i = first; i < st->next && st->ext[i].off < st->sink_hi; i++) {
		uint64_t a = st->ext[i].off > st->sink_lo ? st->ext[i].off : st->sink_lo;
		uint64_t b = st->ext[i].off + st->ext[i].len < st->sink_hi ? st->ext[i].off + st->ext[i].len : st->sink_hi;

		while (a < b) {
			size_t n = b - a > COPY_CHUNK ? COPY_CHUNK : (size_t)(b - a);

			if (!buf && !(buf = malloc(COPY_CHUNK))) {
				error = h5fs__error_oom();
				goto out;
			}
			if ((error = full_pread_what(st->sink_fd, buf, n, st->sink_off + (a - st->sink_lo), "sink",
						     st->sink_path)) < 0 ||
			    (error = store_write(st, buf, n, a)) < 0)
				goto out;
			a += n;
		}
	}
	close(st->sink_fd);
	free(st->sink_path);
	st->sink_path = NULL;
	st->sink_fd = -1;
	st->sink_frozen = false;
	st->sink_lo = st->sink_hi = st->sink_off = 0;
out:
	free(buf);
	return error;
}
