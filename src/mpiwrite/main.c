/*
 * h5fs-mpiwrite: write a staged dataset image with parallel HDF5.
 *
 *   mpiexec -n NP h5fs-mpiwrite [--mode=new|replace|inplace] [--offset=N]
 *	[--lock-timeout=SEC] [--] FILE DATASET STAGING DTYPE SHAPE
 *
 * STAGING holds the dataset's whole byte image (C order, the stored
 * type's bytes) from byte N on; SHAPE is a JSON list ("[1000,3]").  The
 * ranks split the rows evenly, each pread()s its slice and all write with
 * one collective transfer through h5fs_group_write_contiguous(), the
 * library call simulation codes use.
 *
 * Modes:
 *   new      FILE has no DATASET yet (or one made by an earlier commit)
 *   replace  DATASET is replaced by one of SHAPE: same creation
 *	      properties where they fit, attributes copied
 *   inplace  DATASET has SHAPE and DTYPE already: overwritten in place
 *
 * For new and replace, rank 0 first makes the dataset under a hidden
 * name beside DATASET (h5fs_commit_prepare()), every rank writes into
 * it, the ranks agree on the result, and only then does rank 0 move it
 * over DATASET (h5fs_commit_swap()).  A failed or killed helper leaves
 * the old dataset as it was (and at worst a hidden ".h5fs-tmp.*"
 * dataset beside it).
 *
 * Exit status: 0 on success; for a library error code -N in 3..30 the
 * status is N (5: invalid arguments, shape or data; 9: file locked;
 * 13: corrupt; ...); 1 for anything else (usage, MPI).  Rank 0 prints
 * one line on stderr.
 *
 * Test hooks (environment): H5FS_MPIWRITE_FAIL_RANK=R makes rank R fail
 * after reading its slice; H5FS_MPIWRITE_PAUSE=SEC makes every rank
 * sleep SEC seconds after the collective write has closed the file,
 * before the move.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mpi.h>
#include <hdf5.h>

#include "h5fs.h"
#include "h5fs/mpi.h"
#include "h5fs/sys/stage.h"

static int rank, nranks;

struct args {
	const char *mode;
	unsigned long long offset;
	double lock_timeout;
	const char *file, *dataset, *staging, *dtype;
	int ndim;
	uint64_t dims[H5FS_MAX_RANK];
};

/* A failure with a message (rank 0 prints it); returns @p code. */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char message[1024];
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return code;
}

static int lib_fail(int code, const char *what)
{
	return fail(code, "%s: %s", what, h5fs_error_last()->message);
}

static int parse_shape(struct args *a, const char *text)
{
	const char *p = text;
	char *end;

	while (*p == ' ')
		p++;
	if (*p++ != '[')
		return fail(H5FS_EINVALID, "bad shape '%s'", text);
	a->ndim = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == ']' && a->ndim == 0) {
			p++;
			break;
		}
		if (a->ndim == H5FS_MAX_RANK || *p < '0' || *p > '9')
			return fail(H5FS_EINVALID, "bad shape '%s'", text);
		errno = 0;
		a->dims[a->ndim++] = strtoull(p, &end, 10);
		if (errno)
			return fail(H5FS_EINVALID, "bad shape '%s'", text);
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != ']')
			return fail(H5FS_EINVALID, "bad shape '%s'", text);
		break;
	}
	if (*p || a->ndim < 1)
		return fail(H5FS_EINVALID, "shape '%s' needs at least one dimension", text);
	return 0;
}

static int parse_args(struct args *a, int argc, char **argv)
{
	const char *pos[5];
	int npos = 0, opts_done = 0;
	char *end;

	memset(a, 0, sizeof(*a));
	a->mode = "replace";
	a->lock_timeout = 10;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (!opts_done && !strcmp(s, "--")) {
			opts_done = 1;
		} else if (!opts_done && !strncmp(s, "--mode=", 7)) {
			a->mode = s + 7;
		} else if (!opts_done && !strncmp(s, "--offset=", 9)) {
			errno = 0;
			a->offset = strtoull(s + 9, &end, 10);
			if (errno || *end || s[9] == '-' || a->offset > H5FS_STAGE_MAX_SIZE)
				return fail(1, "bad offset '%s'", s + 9);
		} else if (!opts_done && !strncmp(s, "--lock-timeout=", 15)) {
			a->lock_timeout = strtod(s + 15, &end);
			if (*end)
				return fail(1, "bad lock timeout '%s'", s + 15);
		} else if (!opts_done && s[0] == '-' && s[1]) {
			return fail(1, "unknown option '%s'", s);
		} else if (npos < 5) {
			pos[npos++] = s;
		} else {
			return fail(1, "too many arguments");
		}
	}
	if (npos != 5)
		return fail(1, "usage: h5fs-mpiwrite [--mode=new|replace|inplace] [--offset=N] [--lock-timeout=SEC] FILE DATASET STAGING DTYPE SHAPE");
	if (strcmp(a->mode, "new") && strcmp(a->mode, "replace") && strcmp(a->mode, "inplace"))
		return fail(1, "unknown mode '%s'", a->mode);
	a->file = pos[0];
	a->dataset = pos[1];
	a->staging = pos[2];
	a->dtype = pos[3];
	if (a->dataset[0] != '/' || !a->dataset[1])
		return fail(H5FS_EINVALID, "dataset path '%s' must be absolute", a->dataset);
	return parse_shape(a, pos[4]);
}

/* Rank 0's code and message reach every rank. */
static int share(int error)
{
	MPI_Bcast(&error, 1, MPI_INT, 0, MPI_COMM_WORLD);
	MPI_Bcast(message, sizeof(message), MPI_CHAR, 0, MPI_COMM_WORLD);
	return error;
}

/* The worst code of all ranks; a message from the lowest failing rank. */
static int agree(int error)
{
	int worst, who = error < 0 ? rank : nranks, first;

	MPI_Allreduce(&error, &worst, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (first < nranks)
		MPI_Bcast(message, sizeof(message), MPI_CHAR, first, MPI_COMM_WORLD);
	return worst;
}

static h5fs_file *open_handle(const struct args *a, int collective, int *error)
{
	h5fs_file_options o = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f = NULL;

	o.writable = 1;
	o.lock_timeout = a->lock_timeout;
	if ((*error = h5fs_file_new(&f, a->file, &o)) < 0) {
		*error = lib_fail(*error, a->file);
		return NULL;
	}
	if (collective && (*error = h5fs_file_set_comm(f, MPI_COMM_WORLD)) < 0) {
		*error = lib_fail(*error, a->file);
		h5fs_file_free(f);
		return NULL;
	}
	return f;
}

/* Rank 0 alone: check the job and make the hidden dataset. */
static int prepare(const struct args *a, uint64_t total, char **tmp)
{
	h5fs_file *f;
	struct stat sb;
	int error;

	*tmp = NULL;
	if (stat(a->staging, &sb) < 0)
		return fail(H5FS_ENOTFOUND, "cannot read staging file '%s': %s", a->staging, strerror(errno));
	if ((uint64_t)sb.st_size < a->offset || (uint64_t)sb.st_size - a->offset < total)
		return fail(H5FS_EINVALID, "staging file '%s' holds %llu bytes, the shape needs %llu",
			    a->staging, (unsigned long long)sb.st_size, (unsigned long long)(a->offset + total));
	if (!(f = open_handle(a, 0, &error)))
		return error;
	if ((error = h5fs_file_open(f, "r+")) < 0) {
		error = lib_fail(error, "cannot open");
		goto out;
	}
	if (!strcmp(a->mode, "inplace")) {
		h5fs_ref *d = NULL;
		uint64_t dims[H5FS_MAX_RANK];
		char *dtype = NULL;
		int ndim = 0;

		if ((error = h5fs_ref_new(&d, f, a->dataset, H5FS_KIND_DATASET)) < 0 ||
		    (error = h5fs_dataset_shape(d, &ndim, dims, NULL)) < 0 ||
		    (error = h5fs_dataset_dtype(&dtype, d)) < 0) {
			error = lib_fail(error, a->dataset);
		} else if (ndim != a->ndim || memcmp(dims, a->dims, sizeof(*dims) * (size_t)ndim) || strcmp(dtype, a->dtype)) {
			error = fail(H5FS_ETYPE, "dataset '%s' does not have the shape and dtype of an in-place write", a->dataset);
		}
		free(dtype);
		h5fs_ref_free(d);
	} else if ((error = h5fs_commit_prepare(tmp, (hid_t)h5fs_file_hid(f), a->dataset, a->dtype, a->ndim, a->dims)) < 0) {
		error = lib_fail(error, a->dataset);
	}
	if (h5fs_file_close(f) < 0 && error == 0)
		error = lib_fail(H5FS_ERROR, "cannot close");
out:
	h5fs_file_free(f);
	return error;
}

/* Rank 0 alone: move the hidden dataset in place, or drop it. */
static int finish(const struct args *a, const char *tmp, int ok)
{
	h5fs_file *f;
	int error;

	if (!(f = open_handle(a, 0, &error)))
		return error;
	if ((error = h5fs_file_open(f, "r+")) < 0) {
		error = lib_fail(error, "cannot open");
	} else {
		hid_t fid = (hid_t)h5fs_file_hid(f);

		if (ok) {
			if ((error = h5fs_commit_swap(fid, tmp, a->dataset)) < 0)
				error = lib_fail(error, a->dataset);
		} else if (H5Lexists(fid, tmp, H5P_DEFAULT) > 0) {
			H5Ldelete(fid, tmp, H5P_DEFAULT);
		}
		if (h5fs_file_close(f) < 0 && error == 0)
			error = lib_fail(H5FS_ERROR, "cannot close");
	}
	h5fs_file_free(f);
	return error;
}

/* Every rank: read its rows and write them collectively into @p target. */
static int write_rows(const struct args *a, const char *target, size_t rowbytes)
{
	uint64_t rows = a->dims[0], first = rows * (uint64_t)rank / (uint64_t)nranks;
	uint64_t last = rows * (uint64_t)(rank + 1) / (uint64_t)nranks, local[H5FS_MAX_RANK];
	const char *fail_rank = getenv("H5FS_MPIWRITE_FAIL_RANK"), *pause = getenv("H5FS_MPIWRITE_PAUSE");
	unsigned char *data = NULL;
	size_t bytes = (size_t)(last - first) * rowbytes, done = 0;
	h5fs_file *f = NULL;
	h5fs_ref *group = NULL;
	char *parent = NULL;
	int fd = -1, error = 0;

	memcpy(local, a->dims, sizeof(local));
	local[0] = last - first;
	if (!(data = malloc(bytes ? bytes : 1)))
		error = fail(H5FS_ENOMEM, "rank %d: out of memory for %zu bytes", rank, bytes);
	else if ((fd = open(a->staging, O_RDONLY | O_CLOEXEC)) < 0)
		error = fail(H5FS_ENOTFOUND, "rank %d: cannot open staging file '%s': %s", rank, a->staging, strerror(errno));
	while (error == 0 && done < bytes) {
		ssize_t n = pread(fd, data + done, bytes - done, (off_t)(a->offset + first * rowbytes + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			error = fail(H5FS_ERROR, "rank %d: cannot read staging file '%s': %s", rank, a->staging,
				     n < 0 ? strerror(errno) : "unexpected end of file");
		else
			done += (size_t)n;
	}
	if (error == 0 && fail_rank && atoi(fail_rank) == rank)
		error = fail(H5FS_ERROR, "rank %d: failing as asked by H5FS_MPIWRITE_FAIL_RANK", rank);
	if (error == 0 && !(f = open_handle(a, 1, &error)))
		error = error ? error : H5FS_ERROR;
	if (error == 0 && ((error = h5fs_path_parent(&parent, target)) < 0 ||
			   (error = h5fs_ref_new(&group, f, parent, H5FS_KIND_GROUP)) < 0))
		error = lib_fail(error, target);
	/* nobody enters the collective write unless everyone can */
	if ((error = agree(error)) == 0) {
		error = h5fs_group_write_contiguous(group, h5fs_path_basename(target), a->dtype, a->ndim, local, data,
						    H5FS_WRITE_NO_FILEMAP);
		if (error < 0)
			error = lib_fail(error, "collective write");
		error = agree(error);
	}
	if (fd >= 0)
		close(fd);
	free(parent);
	h5fs_ref_free(group);
	h5fs_file_free(f);
	free(data);
	if (error == 0 && pause)
		sleep((unsigned)atoi(pause));
	return error;
}

static int run(int argc, char **argv)
{
	struct args a;
	size_t itemsize = 0, rowbytes;
	uint64_t total;
	char *tmp = NULL;
	int error, len;

	if ((error = agree(parse_args(&a, argc, argv))) < 0 || error > 0)
		return error ? error : 1;
	if ((error = h5fs_dtype_itemsize(&itemsize, a.dtype)) < 0 || !itemsize)
		return fail(error < 0 ? error : H5FS_ENOTSUPPORTED, "dtype '%s' has no fixed byte image", a.dtype);
	rowbytes = itemsize;
	for (int i = 1; i < a.ndim; i++) {
		if (a.dims[i] && rowbytes > SIZE_MAX / a.dims[i])
			return fail(H5FS_EINVALID, "rows of shape are too large");
		rowbytes *= a.dims[i];
	}
	if (rowbytes && a.dims[0] > H5FS_STAGE_MAX_SIZE / rowbytes)
		return fail(H5FS_EINVALID, "shape is too large");
	total = a.dims[0] * rowbytes;
	if (rowbytes && a.dims[0] / (uint64_t)nranks + 1 > SIZE_MAX / rowbytes)
		return fail(H5FS_EINVALID, "shape is too large for one rank");
	if (rank == 0)
		error = prepare(&a, total, &tmp);
	if ((error = share(error)) < 0)
		goto out;
	/* everybody learns the hidden name */
	len = tmp ? (int)strlen(tmp) + 1 : 0;
	MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (rank != 0 && len > 0 && !(tmp = malloc((size_t)len)))
		MPI_Abort(MPI_COMM_WORLD, 1);
	if (len > 0)
		MPI_Bcast(tmp, len, MPI_CHAR, 0, MPI_COMM_WORLD);
	error = write_rows(&a, tmp ? tmp : a.dataset, rowbytes);
	if (tmp) {
		int error2 = 0;

		if (rank == 0)
			error2 = finish(&a, tmp, error == 0);
		if (error == 0)
			error = share(error2);
		else
			share(0);
	}
out:
	free(tmp);
	return error;
}

int main(int argc, char **argv)
{
	int error, status;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	h5fs_init();
	error = run(argc, argv);
	if (error != 0 && rank == 0)
		fprintf(stderr, "h5fs-mpiwrite: %s\n", *message ? message : h5fs_error_last()->message);
	MPI_Finalize();
	if (error == 0)
		return 0;
	status = -error;
	return status >= 3 && status <= 30 ? status : 1;
}
