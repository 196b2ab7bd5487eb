/**
 * @file h5fs/sys/stage.h
 * @brief Staged writes to a dataset's byte image, their commit, and the
 *	  hand-off of large commits to the MPI helper h5fs-mpiwrite.
 *
 * The write side of the daemon in three steps:
 *
 * 1. **Staging** (h5fs_stage): one per open file.  It records writes at
 *    any offsets (unaligned, overlapping, sparse) and truncations of one
 *    dataset's byte image (h5fs/sys/reader.h) without touching HDF5.
 *    The image of a stage is, byte by byte:
 *    - a staged byte where a write landed (a "dirty" byte; the extent
 *      list of dirty ranges is kept sorted and merged);
 *    - else, below the "base limit", the dataset's current byte (the base
 *      limit starts at the dataset's size when the stage was made and
 *      only ever shrinks, to the smallest size a truncation asked for);
 *    - else 0, as POSIX reads the gap after a truncation or a write past
 *      the end.
 *    Staged bytes stay in memory until the highest dirty offset passes
 *    the memory limit (h5fs_stage_options.mem_limit, default 8 MiB);
 *    then they move to a staging file, a sparse file written with
 *    pwrite() at the image's own offsets.  The staging file lives in
 *    h5fs_stage_options.staging_dir or, by default, in a private 0700
 *    folder ".NAME.h5fs-staging" beside the HDF5 file NAME (so ranks on
 *    other nodes of a shared filesystem can read it), and is unlinked
 *    when the stage is freed; the folder is removed when it is empty.
 *    A stage may also send one window of the image to a "sink", a file
 *    region that already is the new dataset's storage
 *    (h5fs_stage_sink_set(), made by h5fs_commit_early()), so that large
 *    new arrays are written once, straight into the HDF5 file.
 *
 * 2. **Commit** (h5fs_commit()): applies a stage to the open HDF5 file,
 *    all or nothing.  Everything that can be checked without writing is
 *    checked first (dtype, shape, NPY header, sizes), so a commit that is
 *    refused leaves the file as it was; see h5fs_commit() for the kinds.
 *
 * 3. **MPI hand-off**: a commit big enough to be worth it is run by
 *    `mpiexec -n NP h5fs-mpiwrite ...` instead: h5fs_commit_plan() says
 *    what the commit would do, h5fs_stage_materialize() makes the staging
 *    file hold the whole new image, and h5fs_mpiwrite_run() runs the
 *    helper (no shell) once the caller closed its own HDF5 handle.
 *
 * Threads: a stage is not safe for concurrent use; the daemon serialises
 * the operations on one open file.  The commit functions call HDF5 and
 * expect the caller to hold h5fs_hdf5_lock() when threads are in play.
 *
 * Sizes and offsets from callers are untrusted: every offset + length is
 * checked against H5FS_STAGE_MAX_SIZE before it is used, and memory is
 * never sized by them beyond the memory limit (or the request at hand).
 *
 * Like the other sys/ headers, this interface may change between minor
 * versions.
 */
#ifndef INCLUDE_h5fs_sys_stage_h__
#define INCLUDE_h5fs_sys_stage_h__

#include <hdf5.h>
#include "../common.h"

H5FS_BEGIN_DECL

/** The largest image a stage holds (the largest off_t). */
#define H5FS_STAGE_MAX_SIZE ((uint64_t)INT64_MAX)

/** The default memory limit of a stage: 8 MiB. */
#define H5FS_STAGE_MEM_LIMIT ((size_t)8 << 20)

/** A staged byte image of one dataset. */
typedef struct h5fs_stage h5fs_stage;

/** Options for h5fs_stage_new(). */
typedef struct {
	unsigned int version;
	/**
	 * Staged bytes are kept in memory while the highest dirty offset is
	 * at most this; beyond it they move to the staging file.  0 puts
	 * every write in the staging file.
	 */
	size_t mem_limit;
	/** Folder for the staging file; NULL for the default (see above). */
	const char *staging_dir;
	/**
	 * The HDF5 file the stage belongs to: names the default staging
	 * folder.  Needed only when staging_dir is NULL and the stage spills.
	 */
	const char *hdf5_path;
} h5fs_stage_options;

#define H5FS_STAGE_OPTIONS_VERSION 1
#define H5FS_STAGE_OPTIONS_INIT { H5FS_STAGE_OPTIONS_VERSION, H5FS_STAGE_MEM_LIMIT, NULL, NULL }

/** A dirty range of the image. */
typedef struct {
	uint64_t off;
	uint64_t len;
} h5fs_stage_extent;

/** The state of a stage. */
typedef struct {
	uint64_t size;		/**< size of the staged image */
	uint64_t base_size;	/**< size of the dataset when staged (or last committed) */
	uint64_t base_limit;	/**< non-dirty bytes below this come from the dataset; above it they are 0 */
	uint64_t dirty_bytes;	/**< bytes in the extent list */
	size_t extents;		/**< ranges in the extent list */
	int in_file;		/**< 1 when the staged bytes live in the staging file */
	int changed;		/**< 1 when a commit has anything to do */
} h5fs_stage_info;

/**
 * Make a stage over an image of @p base_size bytes (the dataset's
 * current size; 0 for a new file).
 *
 * @param[out] out freed with h5fs_stage_free()
 * @param opts NULL for the defaults
 * @return 0, H5FS_EINVALID (size above H5FS_STAGE_MAX_SIZE), H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_stage_new(h5fs_stage **out, uint64_t base_size, const h5fs_stage_options *opts);

/**
 * Free the stage, unlink its staging file and remove the default
 * staging folder when it is empty.  NULL is a no-op.
 */
H5FS_EXTERN(void) h5fs_stage_free(h5fs_stage *st);

/**
 * Stage @p len bytes at @p off.  Writing past the end grows the image;
 * the gap reads as 0.
 *
 * @return 0; H5FS_EINVALID when @p off + @p len overflows or passes
 *	   H5FS_STAGE_MAX_SIZE (nothing is staged); H5FS_ERROR when the
 *	   staging file cannot be made or written (message names it and
 *	   errno's text: ENOSPC shows as "No space left on device");
 *	   H5FS_ENOMEM.  On failure the stage is unchanged.
 */
H5FS_EXTERN(int) h5fs_stage_write(h5fs_stage *st, const void *buf, size_t len, uint64_t off);

/**
 * Set the image's size to @p size (shrink or grow; grown bytes read as 0).
 *
 * @return 0, H5FS_EINVALID (above H5FS_STAGE_MAX_SIZE), H5FS_ERROR
 */
H5FS_EXTERN(int) h5fs_stage_truncate(h5fs_stage *st, uint64_t size);

/** The size of the staged image. */
H5FS_EXTERN(uint64_t) h5fs_stage_size(const h5fs_stage *st);

/** Fill @p out with the stage's state. */
H5FS_EXTERN(void) h5fs_stage_info_get(const h5fs_stage *st, h5fs_stage_info *out);

/**
 * The extent list: sorted, non-overlapping, non-adjacent dirty ranges.
 *
 * @param[out] out borrowed, valid until the stage changes
 * @param[out] count entries
 */
H5FS_EXTERN(void) h5fs_stage_extents(const h5fs_stage *st, const h5fs_stage_extent **out, size_t *count);

/**
 * Called by h5fs_stage_read() for a range it must take from the dataset:
 * store the dataset's current bytes [@p off, @p off + @p len) at @p buf.
 * Return 0 or a negative error code (which the read returns).
 */
typedef int (*h5fs_stage_base_fn)(void *buf, size_t len, uint64_t off, void *payload);

/**
 * Read the staged image: up to @p size bytes from @p off.  Dirty bytes
 * come from the stage, bytes above the base limit are 0, and the other
 * ranges are the dataset's: @p base is called for each of them, in
 * order; with @p base NULL they are left as they are in @p buf, so a
 * caller may read the dataset into @p buf first and overlay the stage
 * on it.
 *
 * @param[out] nread bytes of the image in @p buf: @p size, or less at the
 *	       end (0 at or past it)
 * @return 0, H5FS_ERROR (staging file read failed), or @p base's error
 */
H5FS_EXTERN(int) h5fs_stage_read(const h5fs_stage *st, void *buf, size_t size, uint64_t off, size_t *nread, h5fs_stage_base_fn base, void *payload);

/**
 * Move the staged bytes to the staging file now (a no-op when they are
 * there already).
 *
 * @return 0, H5FS_ERROR, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_stage_spill(h5fs_stage *st);

/**
 * Make the staging file hold the whole image: the dataset's bytes are
 * read with @p base and written into every range that is not dirty
 * below the base limit, the file is cut to the image's size, synced to
 * disk, and the whole image becomes one dirty extent.  For the MPI
 * helper, which reads nothing but the staging file.
 *
 * @return 0, H5FS_ERROR, H5FS_ENOMEM, or @p base's error
 */
H5FS_EXTERN(int) h5fs_stage_materialize(h5fs_stage *st, h5fs_stage_base_fn base, void *payload);

/**
 * The staging file's path (borrowed), or NULL while the stage lives in
 * memory.
 */
H5FS_EXTERN(const char *) h5fs_stage_path(const h5fs_stage *st);

/**
 * Forget the staged changes after they were committed (h5fs_commit() does
 * this itself; after the MPI helper the caller does): the dataset now has
 * the staged image, so the extent list empties, the base size and limit
 * become the image's size and the staging file is emptied.
 */
H5FS_EXTERN(void) h5fs_stage_mark_committed(h5fs_stage *st);

/* ---- the sink -------------------------------------------------------- */

/**
 * From now on keep the image's dirty bytes [@p lo, @p hi) in the file
 * @p path (opened read-write; the stage keeps the descriptor) at
 * @p file_off + (offset - @p lo) instead of memory or the staging file;
 * the bytes staged in the window so far are moved there first.  Reads
 * take them back from there.  Bytes of the window that were never
 * written are left as the file has them until h5fs_stage_sink_fill().
 * Meant for a create: the window must lie above the base limit.
 *
 * @return 0; H5FS_EINVALID (a sink is set already, an empty window, one
 *	   that overlaps the dataset's bytes, or past H5FS_STAGE_MAX_SIZE);
 *	   H5FS_ERROR (the file cannot be opened, read or written: the
 *	   message names it), H5FS_ENOMEM.  On failure nothing changed.
 */
H5FS_EXTERN(int) h5fs_stage_sink_set(h5fs_stage *st, const char *path, uint64_t file_off, uint64_t lo, uint64_t hi);

/**
 * The live sink: 1 and its file offset and window, or 0 when there is
 * none or it is frozen.  Pointers may be NULL.
 */
H5FS_EXTERN(int) h5fs_stage_sink_get(const h5fs_stage *st, uint64_t *file_off, uint64_t *lo, uint64_t *hi);

/**
 * Write zeros into the bytes of the sink window below the image's size
 * that were never written (they read as 0 in the image), so the sink's
 * region equals the image's bytes.  A no-op without a sink.
 *
 * @return 0, H5FS_ERROR, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_stage_sink_fill(h5fs_stage *st);

/**
 * The sink's region became a committed dataset: it keeps serving reads,
 * but the next write into the window first moves the window's bytes
 * into memory or the staging file (h5fs_stage_sink_drop()), so later
 * writes stay staged.  A no-op without a sink.
 */
H5FS_EXTERN(void) h5fs_stage_sink_freeze(h5fs_stage *st);

/**
 * Move the window's dirty bytes from the sink into memory or the
 * staging file and forget the sink.  A no-op without a sink.
 * h5fs_stage_materialize() does this first; h5fs_stage_mark_committed()
 * forgets the sink without copying (nothing is dirty then).
 *
 * @return 0, H5FS_ERROR, H5FS_ENOMEM; on failure the sink stays
 */
H5FS_EXTERN(int) h5fs_stage_sink_drop(h5fs_stage *st);

/* ---- commit ------------------------------------------------------- */

/** What a commit does (or did). */
typedef enum {
	H5FS_COMMIT_NONE = 0,	/**< nothing changed */
	H5FS_COMMIT_INPLACE,	/**< same size: the dirty ranges written in place */
	H5FS_COMMIT_RESIZE,	/**< chunked, first dimension resized in place, then written */
	H5FS_COMMIT_REPLACE,	/**< a new dataset of the new size replaced the old one */
	H5FS_COMMIT_CREATE	/**< a new dataset was created */
} h5fs_commit_kind;

/** Options for h5fs_commit() and h5fs_commit_plan(). */
typedef struct {
	unsigned int version;
	/**
	 * The file is new: create the dataset.  When a dataset of that name
	 * exists already (an earlier commit of the same stage made it) it is
	 * replaced, its attributes kept.
	 */
	int create;
	/** create: the dtype (from user.h5.dtype), or NULL */
	const char *dtype;
	/** create: the shape as JSON text (from user.h5.shape: "[3, 4]", "[]" for a scalar), or NULL */
	const char *shape;
	/**
	 * create (version 2): the hidden dataset h5fs_commit_early() made for
	 * this stage, which the stage's sink fills; NULL for none.
	 */
	const char *prepared;
	/**
	 * version 3: record in it how to take this commit back (see
	 * h5fs_commit_undo), or NULL.  With it, a resize that shrinks the
	 * dataset is made as a replace (the old one is kept, not cut).
	 */
	struct h5fs_commit_undo *undo;
} h5fs_commit_options;

/* versions 1 (without prepared) and 2 (without undo) are accepted too */
#define H5FS_COMMIT_OPTIONS_VERSION 3
#define H5FS_COMMIT_OPTIONS_INIT { H5FS_COMMIT_OPTIONS_VERSION, 0, NULL, NULL, NULL, NULL }

/** What a commit does: from h5fs_commit_plan(), or what h5fs_commit() did. */
typedef struct {
	h5fs_commit_kind kind;
	/** the dataset's path (for an NPY create, the name without ".npy"); malloc'd */
	char *path;
	/** the stored dtype string; malloc'd */
	char *dtype;
	/** the new shape (ndim 0: a scalar); 32 is H5FS_MAX_RANK */
	int ndim;
	uint64_t dims[32];
	/** the dataset's image size before and after */
	uint64_t old_size, new_size;
	/** where the dataset's image starts in the staged image (the NPY header length, else 0) */
	uint64_t data_offset;
	/** bytes the commit writes into the dataset */
	uint64_t write_bytes;
	/** 1 when the dataset is a new object afterwards (REPLACE, CREATE over an existing one) */
	int replaced;
	/** h5fs-mpiwrite's mode for this commit: "new", "replace" or "inplace"; NULL for NONE */
	const char *mpi_mode;
	/** 1 when opts->prepared became the dataset (it is gone under its hidden name) */
	int prepared_used;
} h5fs_commit_info;

/**
 * How to take back a series of commits of one dataset (one open file):
 * given as h5fs_commit_options.undo to every commit that more writes to
 * the same open file may follow (a flush: the shell's `>` closes a
 * duplicated descriptor before it writes), so that when a later commit
 * is refused the dataset can be put back exactly as it was before the
 * first one (h5fs_commit_undo_apply()), and otherwise kept
 * (h5fs_commit_undo_drop()).  What it records, per commit:
 *
 * - a replace, or a create over an existing dataset: a hard link to the
 *   old dataset under a hidden name beside it (".h5fs-old.NAME.PID.N"),
 *   so the old object outlives the swap at no copying cost;
 * - a create where nothing was: that nothing was there;
 * - an in-place write or a growing resize: the bytes it overwrote (the
 *   undo copy the commit makes anyway: memory up to
 *   H5FS_COMMIT_UNDO_LIMIT, then an unlinked file) and the old extent.
 *
 * Once the original dataset is kept (or known absent), later commits add
 * nothing.  Not thread-safe; the HDF5 lock as for h5fs_commit().
 */
typedef struct h5fs_commit_undo h5fs_commit_undo;

/**
 * @param dir where undo copies above the memory limit go (NULL: $TMPDIR)
 * @return 0, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_commit_undo_new(h5fs_commit_undo **out, const char *dir);

/** Free it; a kept dataset stays in the file (drop or apply first).  NULL is a no-op. */
H5FS_EXTERN(void) h5fs_commit_undo_free(h5fs_commit_undo *u);

/** 1 when it holds anything to undo, else 0. */
H5FS_EXTERN(int) h5fs_commit_undo_pending(const h5fs_commit_undo *u);

/**
 * Before a commit that another process makes (h5fs-mpiwrite) of what
 * @p plan (h5fs_commit_plan() of @p st) says: record how to take it
 * back, as h5fs_commit() does with opts->undo.  For the helper's
 * "replace" and "new" modes the old dataset is kept (or noted absent);
 * for "inplace" the bytes the helper will overwrite are read and kept.
 *
 * @return 0, H5FS_ERROR, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_commit_undo_expect(h5fs_commit_undo *u, hid_t fid, const h5fs_commit_info *plan,
					 const h5fs_stage *st);

/**
 * Put the dataset back as it was before the first recorded commit:
 * newest first, whatever a commit made is deleted, a kept dataset is
 * moved back to its name, overwritten bytes are written back and the
 * extent restored; then flush.  Best effort: every step is tried; the
 * undo is empty afterwards.
 *
 * @return 0, or the first failure (H5FS_ERROR: the message names it)
 */
H5FS_EXTERN(int) h5fs_commit_undo_apply(h5fs_commit_undo *u, hid_t fid);

/**
 * Keep the commits: delete the kept datasets, forget the rest, flush.
 * The undo is empty afterwards.
 *
 * @return 0, H5FS_ERROR (a kept dataset could not be deleted: it stays
 *	   under its hidden name)
 */
H5FS_EXTERN(int) h5fs_commit_undo_drop(h5fs_commit_undo *u, hid_t fid);

/** Free the contents of @p info (not @p info itself); NULL is a no-op. */
H5FS_EXTERN(void) h5fs_commit_info_release(h5fs_commit_info *info);

/**
 * Say what h5fs_commit() would do with @p st, without writing anything.
 * Every check h5fs_commit() makes before it writes is made here.
 *
 * @param[out] out released with h5fs_commit_info_release() (also on failure)
 * @return as h5fs_commit()
 */
H5FS_EXTERN(int) h5fs_commit_plan(h5fs_commit_info *out, hid_t fid, const char *path, const h5fs_stage *st, const h5fs_commit_options *opts);

/**
 * Apply @p st to the dataset at @p path of the open, writable HDF5 file
 * @p fid, all or nothing, and flush the file (H5Fflush) so that the
 * commit survives a kill -9 of the caller.  The caller holds the HDF5
 * lock.
 *
 * Kinds, chosen in this order:
 *
 * - **create** (opts->create): the dtype and shape come from opts->dtype
 *   and opts->shape (the shape alone: dtype "|u1"; the dtype alone: 1-D);
 *   else, when @p path ends in ".npy", from the NPY header at the start
 *   of the staged bytes, and the dataset is named without ".npy" and
 *   holds the array (the data must be exactly as long as the header
 *   says; a Fortran-order array is stored transposed into C order, that
 *   is with the same shape and the same values as numpy.load() returns,
 *   up to H5FS_COMMIT_MAX_TRANSPOSE bytes, beyond which it is refused);
 *   else a 1-D "|u1" dataset of the bytes.  An empty file becomes an
 *   empty dataset of shape (0,) and dtype "|u1" (an empty "x.npy" too,
 *   under its own name: there is no header to read).  Contiguous layout.
 * - **in place** (same size): just the dirty ranges (and the zeroed
 *   ranges after a truncation) are written, element-aligned; a partial
 *   element at a range's end is read, modified and written.  The memory
 *   type is a copy of the file type: the bytes are written unconverted.
 * - **resize** (size changed, chunked, the new size a whole number of
 *   rows no larger than maxshape[0]): H5Dset_extent(), then the writes.
 * - **replace** (any other size change): a dataset of the new size is
 *   made under a hidden name ".h5fs-tmp.NAME.PID.N" in the same group,
 *   with the same dtype and trailing dimensions when the size is a whole
 *   number of rows, else 1-D of the element count (else the commit fails
 *   with H5FS_EINVALID); the same creation properties (chunks clipped to
 *   the new shape, filters, fill value; a compact layout too small for
 *   the new size becomes contiguous); every attribute copied; the whole
 *   new image written.  Then the old link moves aside to
 *   ".h5fs-old.NAME.PID.N", the new one moves to NAME and the old one is
 *   deleted: at every instant one complete dataset is reachable, and a
 *   failed move is undone.  Other hard links to the old object keep the
 *   old data.  HDF5 1.10 does not reclaim the old dataset's space.
 *
 * - **prepared create** (opts->prepared, see h5fs_commit_early()): when
 *   the plan is a create whose dtype, shape and data window are those
 *   of the prepared dataset and the stage's live sink is its storage,
 *   the bytes of the window never written are zeroed (h5fs_stage_sink_fill())
 *   and the prepared dataset is moved into place as for a replace; no
 *   data is copied.  The sink is then frozen and info->prepared_used
 *   set.  Otherwise the create is made the usual way (reading the
 *   sink's bytes through the stage) and the prepared dataset is left
 *   for the caller to delete, after the stage is freed or committed;
 *   when the prepared dataset that the live sink writes into is gone
 *   (another program deleted it), the commit fails with H5FS_ERROR.
 *
 * Writes into existing datasets keep an undo copy of the bytes they
 * overwrite (in memory up to H5FS_COMMIT_UNDO_LIMIT, then in an unlinked
 * file in the staging folder, or $TMPDIR for a stage in memory), so a
 * write that fails half-way is rolled back and a resize undone.  A
 * refused or failed commit leaves the stage as it was.
 *
 * The dataset must still have the size the stage was made over (or last
 * committed at): when another program changed it meanwhile the commit is
 * refused (H5FS_EINVALID) rather than mixing old and new bytes.
 *
 * Variable-length strings and other types without a fixed byte image
 * (references, vlen sequences) cannot be written: H5FS_ENOTSUPPORTED.
 *
 * On success the stage is marked committed (h5fs_stage_mark_committed()),
 * except after a create, whose stage keeps the whole image (a later
 * commit of it with opts->create replaces the dataset again).  After any
 * commit of kind other than NONE the caller must drop what it cached of
 * the dataset: the kernel's page cache, h5fs_reader_invalidate() (or
 * h5fs_chunk_cache_clear()), and for REPLACE/CREATE the inode (the
 * object is new) and any open h5fs_reader of the old object.
 *
 * @param[out] out what was done (may be NULL); release it with
 *	       h5fs_commit_info_release()
 * @return 0; H5FS_EINVALID (a size that fits no shape, a bad dtype, shape
 *	   or NPY header, data that does not match them); H5FS_ENOTFOUND
 *	   (no dataset at @p path without opts->create, or its group is
 *	   missing); H5FS_ETYPE (@p path is not a dataset);
 *	   H5FS_ENOTSUPPORTED (no fixed byte image, a Fortran array too big
 *	   to transpose); H5FS_ECORRUPT (the dataset cannot be described);
 *	   H5FS_ERROR (an HDF5 or staging-file operation failed; the message
 *	   names it), H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_commit(h5fs_commit_info *out, hid_t fid, const char *path, h5fs_stage *st, const h5fs_commit_options *opts);

/**
 * Start a create before its data has all arrived, so the data can be
 * written once, straight into the file: plan the create as h5fs_commit()
 * would (opts->create must be set) for the full data the NPY header at
 * the start of the stage (only the bytes written from offset 0 count)
 * or the declared dtype and shape describe, and make its dataset under
 * a hidden temporary name as for a replace (h5fs_commit_prepare()), with
 * its storage allocated, then flush.  The caller points the stage's
 * sink at [info->data_offset, info->data_offset + info->new_size) of
 * the image and @p file_off of the HDF5 file, passes @p tmp_path as
 * opts->prepared to the commit, and deletes the dataset at @p tmp_path
 * itself when the commit did not use it.  Nothing visible changes.
 *
 * @param[out] out the plan; released with h5fs_commit_info_release()
 * @param[out] tmp_path the hidden dataset, malloc'd
 * @param[out] file_off where its contiguous storage starts in the file
 * @param min_bytes smaller data is refused (H5FS_ENOTSUPPORTED)
 * @return 0; H5FS_EBUFS (the NPY header is not complete yet: try again
 *	   after more writes); H5FS_ENOTSUPPORTED (the data is smaller than
 *	   @p min_bytes, empty, in Fortran order, of unknown size (no
 *	   shape declared), or the dataset's layout is not contiguous);
 *	   otherwise as h5fs_commit() (H5FS_EINVALID for a bad header)
 */
H5FS_EXTERN(int) h5fs_commit_early(h5fs_commit_info *out, char **tmp_path, uint64_t *file_off, hid_t fid,
				   const char *path, const h5fs_stage *st, const h5fs_commit_options *opts,
				   uint64_t min_bytes);

/** Undo copies above this many bytes go to a file. */
#define H5FS_COMMIT_UNDO_LIMIT ((size_t)16 << 20)

/** Fortran-order NPY arrays up to this many bytes are transposed. */
#define H5FS_COMMIT_MAX_TRANSPOSE ((uint64_t)1 << 30)

/**
 * Building block of the replace path and of h5fs-mpiwrite: make an empty
 * dataset for @p dtype and @p dims under a hidden temporary name beside
 * @p path; when a dataset exists at @p path, with its creation
 * properties (as for a replace) and a copy of its attributes.
 * Storage is allocated early, so that a collective write into it changes
 * no metadata (a helper killed while writing leaves a consistent file).
 *
 * @param[out] tmp_path the temporary dataset's path, malloc'd
 * @return 0, H5FS_EINVALID, H5FS_ENOTFOUND (no group), H5FS_ERROR
 */
H5FS_EXTERN(int) h5fs_commit_prepare(char **tmp_path, hid_t fid, const char *path, const char *dtype, int ndim, const uint64_t *dims);

/**
 * Building block: put the dataset at @p tmp_path in place of @p path
 * (moving the old one aside first and deleting it after, as for a
 * replace; a plain move when @p path does not exist), then flush.
 *
 * @return 0, H5FS_ERROR (nothing moved)
 */
H5FS_EXTERN(int) h5fs_commit_swap(hid_t fid, const char *tmp_path, const char *path);

/* ---- the MPI helper ------------------------------------------------ */

/** How to run h5fs-mpiwrite. */
typedef struct {
	unsigned int version;
	/** the mpiexec program (found on PATH); NULL: "mpiexec" */
	const char *mpiexec;
	/** ranks; <= 0: the number of online cores */
	int np;
	/** extra arguments for mpiexec (before the helper), or NULL */
	const char *const *mpi_args;
	size_t mpi_nargs;
	/** the helper program; NULL: "h5fs-mpiwrite" (found on PATH) */
	const char *helper;
	/** seconds the helper may wait for the file lock (default 10) */
	double lock_timeout;
} h5fs_mpiwrite_options;

#define H5FS_MPIWRITE_OPTIONS_VERSION 1
#define H5FS_MPIWRITE_OPTIONS_INIT { H5FS_MPIWRITE_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 10.0 }

/** One job for h5fs-mpiwrite. */
typedef struct {
	const char *hdf5_file;		/**< the HDF5 file */
	const char *dataset;		/**< absolute dataset path */
	const char *staging_file;	/**< holds the whole new image (h5fs_stage_materialize()) */
	uint64_t data_offset;		/**< where the image starts in the staging file */
	const char *dtype;		/**< stored dtype string */
	int ndim;			/**< 1 or more: the helper splits rows */
	const uint64_t *dims;
	const char *mode;		/**< "new", "replace" or "inplace" */
} h5fs_mpiwrite_job;

/**
 * The argument vector of the helper run:
 * `MPIEXEC -n NP [MPI_ARGS...] HELPER --mode=MODE --offset=N
 * --lock-timeout=SEC FILE DATASET STAGING DTYPE SHAPE`, SHAPE as JSON
 * without spaces ("[1000,3]").  No shell is involved: every argument is
 * passed as it is.
 *
 * @param[out] out NULL-terminated; free with h5fs_strarray_free()
 * @param opts NULL for the defaults
 * @return 0, H5FS_EINVALID (missing field, unknown mode, ndim < 1), H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_mpiwrite_argv(char ***out, const h5fs_mpiwrite_options *opts, const h5fs_mpiwrite_job *job);

/**
 * Run the helper (fork, execvp, wait) and map its result.  The caller
 * must have flushed and closed its own handle on the file.  The
 * helper's last line on stderr becomes the error message.
 *
 * @return 0; H5FS_ENOTFOUND (mpiexec or the helper cannot be run);
 *	   the helper's own code for its documented exit statuses (exit
 *	   status N in 3..30 is the h5fs error -N, e.g. 5 for
 *	   H5FS_EINVALID, 9 for H5FS_ELOCKED); H5FS_ERROR otherwise
 *	   (killed by a signal: the message names it)
 */
H5FS_EXTERN(int) h5fs_mpiwrite_run(const h5fs_mpiwrite_options *opts, const h5fs_mpiwrite_job *job);

H5FS_END_DECL

#endif
