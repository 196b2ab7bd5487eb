/*
 * h5fs_file: a lazy handle with nested opens and lock-conflict retries.
 *
 * The handle opens the real file on the outermost h5fs_file_open() and
 * closes it on the matching h5fs_file_close().  Two levels only: read
 * and write; a nested write open on a read-level file reopens it
 * read-write (never truncating, see h5fs/file.h).
 *
 * HDF5 1.10 takes an flock() on open: shared for read, exclusive for
 * write.  A conflict shows as H5E_CANTLOCKFILE on the error stack; only
 * that is retried, with sleeps of 10 ms doubling up to 1 s, until the
 * deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "filemap.h"
#include "h5fs/mpi.h"
#include "h5fs/sys/live.h"

enum open_kind {
	OPEN_RDONLY,	/* "r" */
	OPEN_RDWR,	/* "r+" */
	OPEN_APPEND,	/* "a": read-write, create if missing */
	OPEN_TRUNC,	/* "w" */
	OPEN_EXCL	/* "w-", "x" */
};

static int parse_mode(enum open_kind *out, const char *mode)
{
	if (!mode || !strcmp(mode, "r"))
		*out = OPEN_RDONLY;
	else if (!strcmp(mode, "r+"))
		*out = OPEN_RDWR;
	else if (!strcmp(mode, "a"))
		*out = OPEN_APPEND;
	else if (!strcmp(mode, "w"))
		*out = OPEN_TRUNC;
	else if (!strcmp(mode, "w-") || !strcmp(mode, "x"))
		*out = OPEN_EXCL;
	else {
		h5fs__error_set(H5FS_ERROR_INVALID, "invalid file mode '%s'", mode);
		return H5FS_EINVALID;
	}
	return 0;
}

int h5fs_file_options_init(h5fs_file_options *opts, unsigned int version)
{
	h5fs_file_options tmpl = H5FS_FILE_OPTIONS_INIT;

	H5FS_ASSERT_ARG(opts);
	if (version != H5FS_FILE_OPTIONS_VERSION) {
		h5fs__error_set(H5FS_ERROR_INVALID, "unsupported options version %u", version);
		return H5FS_EINVALID;
	}
	*opts = tmpl;
	return 0;
}

static char *absolute_path(const char *path)
{
	h5fs_buf b = H5FS_BUF_INIT;
	char *cwd;

	if (path[0] == '/')
		return h5fs__strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot get the working directory: %s", strerror(errno));
		return NULL;
	}
	h5fs_buf_puts(&b, cwd);
	if (strcmp(cwd, "/"))
		h5fs_buf_putc(&b, '/');
	h5fs_buf_puts(&b, path);
	free(cwd);
	if (h5fs_buf_check(&b) < 0)
		return NULL;
	return h5fs_buf_detach(&b, NULL);
}

int h5fs_file_new(h5fs_file **out, const char *path, const h5fs_file_options *opts)
{
	h5fs_file_options defaults = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *file;
	struct stat st;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(path && *path);
	*out = NULL;
	if ((error = h5fs__init()) < 0)
		return error;
	if (!opts)
		opts = &defaults;
	if (!opts->writable && stat(path, &st) < 0) {
		if (errno == ENOENT) {
			h5fs__error_set(H5FS_ERROR_OS, "file '%s' does not exist", path);
			return H5FS_ENOTFOUND;
		}
		h5fs__error_set(H5FS_ERROR_OS, "cannot stat '%s': %s", path, strerror(errno));
		return errno == EACCES ? H5FS_EACCESS : H5FS_ERROR;
	}
	if (!(file = calloc(1, sizeof(*file))))
		return h5fs__error_oom();
	file->fid = H5I_INVALID_HID;
	file->writable = opts->writable != 0;
	file->lock_timeout = opts->lock_timeout;
	file->comm = MPI_COMM_NULL;
	file->saved_comm = MPI_COMM_NULL;
	if (!(file->path = absolute_path(path)))
		error = H5FS_ENOMEM;
	else
		error = h5fs__filemap_new(&file->map);
	if (error < 0) {
		h5fs_file_free(file);
		return error;
	}
	*out = file;
	return 0;
}

void h5fs_file_free(h5fs_file *file)
{
	if (!file)
		return;
	h5fs_file_force_close(file);
	h5fs__filemap_free(file->map);
	free(file->path);
	free(file);
}

static hid_t make_fapl(const h5fs_file *file, bool mpio)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

	if (fapl < 0)
		return fapl;
	if (mpio && H5Pset_fapl_mpio(fapl, file->comm, MPI_INFO_NULL) < 0) {
		H5Pclose(fapl);
		return H5I_INVALID_HID;
	}
	return fapl;
}

/*
 * HDF5 1.10 truncates (O_TRUNC) before it takes its lock, so "w" on a
 * file someone holds would destroy it and then fail.  Probe the lock the
 * way HDF5 takes it (flock, exclusive) first.
 */
static bool held_by_others(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool held = false;

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	close(fd);
	return held;
}

/* One attempt; on failure *locked tells whether it was a lock conflict. */
static hid_t try_open(const h5fs_file *file, enum open_kind kind, bool exists, bool mpio, bool *locked)
{
	hid_t fapl, fid;

	*locked = false;
	if ((fapl = make_fapl(file, mpio)) < 0)
		return H5I_INVALID_HID;
	switch (kind) {
	case OPEN_RDONLY:
		fid = H5Fopen(file->path, H5F_ACC_RDONLY, fapl);
		break;
	case OPEN_RDWR:
		fid = H5Fopen(file->path, H5F_ACC_RDWR, fapl);
		break;
	case OPEN_APPEND:
		fid = exists ? H5Fopen(file->path, H5F_ACC_RDWR, fapl)
			     : H5Fcreate(file->path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
		break;
	case OPEN_TRUNC:
		if (exists && held_by_others(file->path)) {
			H5Pclose(fapl);
			*locked = true;
			return H5I_INVALID_HID;
		}
		fid = H5Fcreate(file->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
		break;
	default:
		fid = H5Fcreate(file->path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
		break;
	}
	/* read the stack before H5Pclose(), which would clear it */
	if (fid < 0)
		*locked = h5fs__hdf5_stack_has(H5E_CANTLOCKFILE);
	if (fid < 0) {
		hid_t keep = H5Eget_current_stack();

		H5Pclose(fapl);
		H5Eset_current_stack(keep);
	} else {
		H5Pclose(fapl);
	}
	return fid;
}

static int real_open(h5fs_file *file, enum open_kind kind, bool mpio)
{
	double timeout = file->lock_timeout;
	h5fs_live_backoff bo;
	struct stat st;
	bool exists, locked;
	hid_t fid;

	exists = stat(file->path, &st) == 0;
	if (mpio) {
		/* every rank must take the same branch (create or open) */
		int e = exists;

		MPI_Bcast(&e, 1, MPI_INT, 0, file->comm);
		exists = e;
	}
	if (exists && S_ISDIR(st.st_mode)) {
		h5fs__error_set(H5FS_ERROR_OS, "'%s' is a directory", file->path);
		return H5FS_EINVALID;
	}
	if (exists && access(file->path, kind == OPEN_RDONLY ? R_OK : R_OK | W_OK) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot open '%s': %s", file->path, strerror(errno));
		return errno == EACCES || errno == EROFS ? H5FS_EACCESS : H5FS_ERROR;
	}
	if (!exists && (kind == OPEN_RDONLY || kind == OPEN_RDWR)) {
		h5fs__error_set(H5FS_ERROR_OS, "file '%s' does not exist", file->path);
		return H5FS_ENOTFOUND;
	}
	if (exists && kind == OPEN_EXCL) {
		h5fs__error_set(H5FS_ERROR_OS, "file '%s' already exists", file->path);
		return H5FS_EEXISTS;
	}
	if (exists && kind != OPEN_TRUNC && S_ISREG(st.st_mode) &&
	    st.st_size > 0 && h5fs_file_is_hdf5(file->path) == 0) {
		h5fs__error_set(H5FS_ERROR_HDF5, "'%s' is not an HDF5 file", file->path);
		return H5FS_ECORRUPT;
	}

	h5fs_live_backoff_start(&bo, timeout, 1.0);
	for (;;) {
		fid = try_open(file, kind, exists, mpio, &locked);
		if (fid >= 0)
			break;
		if (!locked) {
			h5fs__error_hdf5("cannot open '%s'", file->path);
			return exists ? H5FS_ECORRUPT : H5FS_ERROR;
		}
		h5fs__hdf5_clear();
		if (timeout == 0) {
			h5fs__error_set(H5FS_ERROR_OS, "file '%s' is locked and timeout is set to 0, not retrying", file->path);
			return H5FS_ELOCKED;
		}
		if (!h5fs_live_backoff_next(&bo)) {
			h5fs__error_set(H5FS_ERROR_OS, "Timeout of %gs exceeded while waiting to acquire lock on HDF5 file '%s'", timeout, file->path);
			return H5FS_ELOCKED;
		}
	}
	file->fid = fid;
	file->write_level = kind != OPEN_RDONLY;
	file->mpio = mpio;
	file->real_opens++;
	return 0;
}

static int real_close(h5fs_file *file)
{
	int error = 0;

	if (file->fid < 0)
		return 0;
	if (H5Fclose(file->fid) < 0) {
		h5fs__error_hdf5("cannot close '%s'", file->path);
		error = H5FS_ERROR;
	}
	file->fid = H5I_INVALID_HID;
	file->write_level = false;
	file->mpio = false;
	file->real_closes++;
	return error;
}

static int file_open(h5fs_file *file, const char *mode, bool collective)
{
	enum open_kind kind;
	bool write, mpio;
	int error;

	H5FS_ASSERT_ARG(file);
	if ((error = h5fs__init()) < 0 || (error = parse_mode(&kind, mode)) < 0)
		return error;
	write = kind != OPEN_RDONLY;
	if (write && !file->writable) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot open read-only handle of '%s' for writing", file->path);
		return H5FS_EREADONLY;
	}
	/* MPI-IO only for collective writers on a handle with a communicator. */
	mpio = collective && write && file->comm != MPI_COMM_NULL;
	if (file->count > 0) {
		if ((!write || file->write_level) && (!mpio || file->mpio)) {
			file->count++;
			return 0;
		}
		/* Upgrade: reopen read-write (and collectively when asked). */
		bool was_write = file->write_level, was_mpio = file->mpio;

		if ((error = real_close(file)) < 0)
			return error;
		if ((error = real_open(file, kind == OPEN_TRUNC || kind == OPEN_EXCL ? OPEN_RDWR : kind, mpio)) < 0) {
			/* give the outer context its file back, keeping the first cause */
			char *why = h5fs__strdup(h5fs_error_last()->message);
			int klass = h5fs_error_last()->klass;

			if (real_open(file, was_write ? OPEN_RDWR : OPEN_RDONLY, was_mpio) < 0)
				file->count = 0;
			if (why) {
				h5fs__error_set(klass, "%s", why);
				free(why);
			}
			return error;
		}
		file->count++;
		return 0;
	}
	if ((error = real_open(file, kind, mpio)) < 0)
		return error;
	file->count = 1;
	return 0;
}

int h5fs_file_open(h5fs_file *file, const char *mode)
{
	return file_open(file, mode, false);
}

int h5fs__file_open_collective(h5fs_file *file)
{
	return file_open(file, "a", true);
}

int h5fs_file_close(h5fs_file *file)
{
	if (!file || file->count == 0)
		return 0;
	if (--file->count > 0)
		return 0;
	return real_close(file);
}

int h5fs_file_force_close(h5fs_file *file)
{
	if (!file)
		return 0;
	file->count = 0;
	return real_close(file);
}

int h5fs_file_flush(h5fs_file *file)
{
	H5FS_ASSERT_ARG(file);
	if (file->fid < 0)
		return 0;
	if (H5Fflush(file->fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs__error_hdf5("cannot flush '%s'", file->path);
		return H5FS_ERROR;
	}
	return 0;
}

int h5fs_file_is_open(const h5fs_file *file)
{
	return file && file->fid >= 0;
}

const char *h5fs_file_mode(const h5fs_file *file)
{
	if (!file || file->fid < 0)
		return NULL;
	return file->write_level ? "r+" : "r";
}

int h5fs_file_writable(const h5fs_file *file)
{
	return file && file->writable;
}

unsigned int h5fs_file_open_count(const h5fs_file *file)
{
	return file ? file->count : 0;
}

unsigned int h5fs_file_real_opens(const h5fs_file *file)
{
	return file ? file->real_opens : 0;
}

unsigned int h5fs_file_real_closes(const h5fs_file *file)
{
	return file ? file->real_closes : 0;
}

const char *h5fs_file_path(const h5fs_file *file)
{
	return file ? file->path : NULL;
}

void h5fs_file_set_lock_timeout(h5fs_file *file, double seconds)
{
	if (file)
		file->lock_timeout = seconds;
}

int64_t h5fs_file_hid(const h5fs_file *file)
{
	return file ? file->fid : H5I_INVALID_HID;
}

int h5fs_file_is_hdf5(const char *path)
{
	static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
	unsigned char got[8];
	struct stat st;
	off_t off;
	int fd, found = 0;

	H5FS_ASSERT_ARG(path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot open '%s': %s", path, strerror(errno));
		return errno == ENOENT ? H5FS_ENOTFOUND : H5FS_ERROR;
	}
	if (fstat(fd, &st) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot stat '%s': %s", path, strerror(errno));
		close(fd);
		return H5FS_ERROR;
	}
	/* The superblock sits at 0 or after a user block of 512 * 2^n bytes. */
	for (off = 0; off + 8 <= st.st_size; off = off ? off * 2 : 512) {
		if (pread(fd, got, 8, off) != 8)
			break;
		if (!memcmp(got, sig, 8)) {
			found = 1;
			break;
		}
	}
	close(fd);
	return found;
}

/* ---- MPI ------------------------------------------------------------ */

int h5fs_file_set_comm(h5fs_file *file, MPI_Comm comm)
{
	H5FS_ASSERT_ARG(file);
	if (file->count > 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot change the communicator of open file '%s'", file->path);
		return H5FS_EINVALID;
	}
	file->comm = comm;
	return 0;
}

MPI_Comm h5fs_file_comm(const h5fs_file *file)
{
	return file ? file->comm : MPI_COMM_NULL;
}

int h5fs_file_comm_self_begin(h5fs_file *file)
{
	H5FS_ASSERT_ARG(file);
	if (file->self_depth == 0 && file->mpio && file->count > 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot act alone on '%s' while it is open collectively", file->path);
		return H5FS_EINVALID;
	}
	if (file->self_depth++ == 0) {
		file->saved_comm = file->comm;
		if (file->comm != MPI_COMM_NULL)
			file->comm = MPI_COMM_SELF;
	}
	return 0;
}

int h5fs_file_comm_self_end(h5fs_file *file)
{
	H5FS_ASSERT_ARG(file);
	if (file->self_depth == 0)
		return 0;
	if (--file->self_depth == 0) {
		file->comm = file->saved_comm;
		file->saved_comm = MPI_COMM_NULL;
	}
	return 0;
}

bool h5fs__file_is_parallel(const h5fs_file *file)
{
	int size = 1;

	if (file->comm == MPI_COMM_NULL)
		return false;
	MPI_Comm_size(file->comm, &size);
	return size > 1;
}

int h5fs__file_rank(const h5fs_file *file)
{
	int rank = 0;

	if (file->comm != MPI_COMM_NULL)
		MPI_Comm_rank(file->comm, &rank);
	return rank;
}

/* Send rank @p root's error (code, class, message) to every rank. */
static int error_from_rank(const h5fs_file *file, int root, int error)
{
	int head[3], ok, all_ok;
	char *msg;
	const h5fs_error *mine = h5fs_error_last();

	head[0] = error;
	head[1] = mine->klass;
	head[2] = error < 0 ? (int)strlen(mine->message) : 0;
	MPI_Bcast(head, 3, MPI_INT, root, file->comm);
	if (head[0] >= 0)
		return head[0];
	msg = malloc((size_t)head[2] + 1);
	ok = msg != NULL;
	/* every rank must take part in the next broadcast, or none */
	MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, file->comm);
	if (!all_ok) {
		free(msg);
		h5fs__error_oom();
		return head[0];
	}
	if (h5fs__file_rank(file) == root)
		memcpy(msg, mine->message, (size_t)head[2]);
	MPI_Bcast(msg, head[2], MPI_CHAR, root, file->comm);
	msg[head[2]] = '\0';
	h5fs__error_set(head[1], "%s", msg);
	free(msg);
	return head[0];
}

int h5fs__file_bcast_error(const h5fs_file *file, int error)
{
	if (!h5fs__file_is_parallel(file))
		return error;
	return error_from_rank(file, 0, error);
}

int h5fs__file_agree(const h5fs_file *file, int error)
{
	int worst, size, rank, who;

	if (!file || !h5fs__file_is_parallel(file))
		return error;
	MPI_Allreduce(&error, &worst, 1, MPI_INT, MPI_MIN, file->comm);
	if (worst >= 0)
		return worst;
	MPI_Comm_size(file->comm, &size);
	rank = h5fs__file_rank(file);
	/* the lowest rank that saw the worst error tells everyone why */
	who = error == worst ? rank : size;
	MPI_Allreduce(MPI_IN_PLACE, &who, 1, MPI_INT, MPI_MIN, file->comm);
	return error_from_rank(file, who, error);
}

int h5fs__file_root_only(h5fs_file *file, h5fs__root_fn fn, void *payload)
{
	int error;

	if (!file->writable) {
		h5fs__error_set(H5FS_ERROR_INVALID, "file '%s' is read-only", file->path);
		return H5FS_EREADONLY;
	}
	if (h5fs__file_is_parallel(file) && file->mpio && file->count > 0) {
		/*
		 * Parallel HDF5 wants metadata changes made by every rank
		 * alike while the file is open collectively.
		 */
		error = fn(file, payload);
		return h5fs__file_bcast_error(file, error);
	}
	if (h5fs__file_rank(file) == 0) {
		if ((error = h5fs_file_open(file, "a")) == 0) {
			error = fn(file, payload);
			if (h5fs_file_close(file) < 0 && error == 0)
				error = H5FS_ERROR;
		}
	} else {
		error = 0;
	}
	return h5fs__file_bcast_error(file, error);
}
