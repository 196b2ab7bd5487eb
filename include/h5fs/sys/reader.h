/**
 * @file h5fs/sys/reader.h
 * @brief The fast data path: byte ranges of one dataset's byte image.
 *
 * A reader serves reads of a dataset's "byte image": its elements in C
 * order, each in the byte image of the stored datatype (byte order
 * included), h5fs_reader_size() = points x type size bytes in all.
 *
 * How each layout is served:
 *
 * - contiguous, allocated: pread() on the caller's file descriptor at the
 *   dataset's offset, no HDF5 call and no lock (h5fs_reader_extent() and
 *   h5fs_reader_map() give the offset so a FUSE daemon can reply from
 *   the fd directly);
 * - contiguous, not allocated: the fill value, repeated;
 * - compact: read whole at open (at most 64 KiB), then served from memory;
 * - chunked: the byte range is mapped to the chunks it touches and only
 *   those are fetched, one at a time.  With few chunks (at most 64, or
 *   fewer than chunk bytes / 32) a chunk's address comes from
 *   H5Dget_chunk_info_by_coord() under the HDF5 lock and its bytes from
 *   pread() outside it; with many, the stored bytes come from
 *   H5Dread_chunk() under the lock, because in libhdf5 1.10 the
 *   coordinate lookup scans the whole chunk index (about 6 ns per chunk
 *   of the dataset, per call) while H5Dread_chunk() is a B-tree lookup.
 *   Either way the bytes are decoded by our own decoders (deflate,
 *   shuffle, fletcher32) outside the lock, then kept in the shared
 *   h5fs_chunk_cache.  Unfiltered chunks with rows of at least 4 KiB are
 *   read straight from the file into the caller's buffer (few-chunk
 *   case), or mapped to file spans by h5fs_reader_map().  Unallocated chunks read as the fill value.  Chunks
 *   whose pipeline holds another filter (szip, scale-offset, n-bit,
 *   plugins) are read with H5Dread() of the chunk's in-extent region
 *   under the lock; when a filter is not available that read fails with
 *   an error naming it;
 * - anything else (virtual datasets, external storage): H5Dread() of the
 *   elements the request covers, under the lock.
 *
 * Prefetching (chunked datasets read through a cache): when a request
 * continues the previous one (starts within max(1 MiB, one chunk) of
 * where it ended; FUSE readahead requests may come slightly out of
 * order) the reader asks the cache's worker pool (one thread per online
 * core, at most 8, started on first use) for the chunks of the next
 * 3 chunks' worth of bytes (at least 1 MiB, at most a quarter of the
 * cache, never past the end; at most 8 chunks a request, a bounded
 * queue).  A worker looks the chunk up under the HDF5 lock, then reads
 * and decodes it outside it into the cache, holding the chunk's
 * reservation so that a request for it waits for that decode instead
 * of repeating it.  Chunks that would be read straight from the file
 * are only announced to the kernel (POSIX_FADV_WILLNEED).  A request
 * elsewhere stops prefetching until reads are sequential again.
 * Prefetch errors are dropped (the request that needs the chunk meets
 * them again).
 *
 * Decoding errors (a corrupt deflate stream, a checksum mismatch, a chunk
 * that decodes to the wrong size or whose stored size is implausible)
 * give H5FS_ECORRUPT; sizes read from the file never size an allocation
 * beyond one chunk of at most H5FS_READER_MAX_CHUNK bytes (larger
 * filtered chunks are read piecewise through HDF5).
 *
 * Types without a fixed byte image (variable-length data, references)
 * cannot be read: h5fs_reader_open() fails with H5FS_ENOTSUPPORTED.
 *
 * The reader reads the file behind HDF5's back: data written through
 * HDF5 in this process must be flushed (H5Fflush) before it is read, and
 * cached chunks of a changed dataset dropped (h5fs_reader_invalidate()).
 *
 * Like libgit2's sys/ headers, this interface may change between minor
 * versions.
 */
#ifndef INCLUDE_h5fs_sys_reader_h__
#define INCLUDE_h5fs_sys_reader_h__

#include <hdf5.h>
#include "../common.h"

H5FS_BEGIN_DECL

/** Chunks larger than this (decoded) are never decoded whole by us. */
#define H5FS_READER_MAX_CHUNK ((size_t)64 << 20)

/** A reader of one dataset. */
typedef struct h5fs_reader h5fs_reader;

/**
 * A cache of decoded chunks, shared by the readers of one mount: a
 * least-recently-used set keyed by (file, dataset, chunk index) whose
 * memory stays under the size it was made with.  Thread-safe.
 */
typedef struct h5fs_chunk_cache h5fs_chunk_cache;

/** Counters of a reader since it was opened (for tests and benchmarks). */
typedef struct {
	/** bytes read from the file: pread() plus the bytes HDF5 read for us */
	uint64_t bytes_read;
	/** chunks the reads touched (cache hits included) */
	uint64_t chunks_touched;
	/** chunks decoded (by our decoders or by H5Dread()) */
	uint64_t chunks_decoded;
	/** chunks found in the cache */
	uint64_t cache_hits;
	/** H5Dread() calls */
	uint64_t hdf5_reads;
	/**
	 * chunks the background prefetcher loaded into the cache (or, for
	 * chunks read straight from the file, asked the kernel to read
	 * ahead); their decoding is also in chunks_decoded
	 */
	uint64_t prefetched;
} h5fs_reader_stats;

/**
 * Make a chunk cache that holds at most @p size_bytes of decoded chunks
 * (bookkeeping included).  0 makes a cache that keeps nothing.
 *
 * @param[out] out freed with h5fs_chunk_cache_free()
 * @return 0, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_chunk_cache_new(h5fs_chunk_cache **out, size_t size_bytes);

/**
 * Free the cache and stop its prefetch workers.  Every reader using it
 * must have been freed; do not hold the HDF5 lock (a worker may be
 * waiting for it).  NULL is a no-op.
 */
H5FS_EXTERN(void) h5fs_chunk_cache_free(h5fs_chunk_cache *cache);

/** Drop every cached chunk. */
H5FS_EXTERN(void) h5fs_chunk_cache_clear(h5fs_chunk_cache *cache);

/**
 * Current use of the cache.
 *
 * @param[out] bytes memory held (NULL to skip)
 * @param[out] entries chunks held (NULL to skip)
 */
H5FS_EXTERN(void) h5fs_chunk_cache_usage(h5fs_chunk_cache *cache, size_t *bytes, size_t *entries);

/**
 * Open a reader on the open dataset @p dset.
 *
 * Takes the HDF5 lock itself (callers may already hold it).  The reader
 * keeps its own reference to @p dset when it needs HDF5 to read (every
 * layout but contiguous and compact), so the caller may close its id;
 * the file stays open until the reader is freed.
 *
 * @param[out] out the reader, freed with h5fs_reader_free()
 * @param dset an open dataset
 * @param fd a read-only descriptor of the same file, owned by the caller
 *	  and open for the reader's lifetime (used with pread())
 * @param cache the chunk cache to use, or NULL for none
 * @return 0, H5FS_ENOTSUPPORTED (type without a fixed byte image,
 *	   element or rank out of range), H5FS_ECORRUPT (layout that cannot
 *	   be described), H5FS_EINVALID, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_reader_open(h5fs_reader **out, hid_t dset, int fd, h5fs_chunk_cache *cache);

/**
 * Free a reader (takes the HDF5 lock when it holds a dataset; the caller
 * may hold it).  Its queued prefetches are dropped and the running ones
 * past their HDF5 part are waited for, so the descriptor may be closed
 * and the file's ids too once this returns.  NULL is a no-op.
 */
H5FS_EXTERN(void) h5fs_reader_free(h5fs_reader *r);

/** The size of the byte image in bytes. */
H5FS_EXTERN(uint64_t) h5fs_reader_size(const h5fs_reader *r);

/**
 * Read up to @p size bytes of the byte image from offset @p off.
 *
 * Safe to call from several threads at once, on the same reader or on
 * different ones.  The HDF5 lock is held only around HDF5 calls, never
 * around pread() or decoding.  With a cache, the caller must not hold
 * the HDF5 lock: a request may wait for another thread's (or a
 * prefetch worker's) decode of the same chunk, which takes the lock.
 *
 * @param[out] nread bytes stored in @p buf: @p size, or less at the end
 *	       of the image (0 at or past the end)
 * @return 0; H5FS_ECORRUPT (undecodable or inconsistent data; the
 *	   message names the dataset and the chunk), H5FS_ERROR (I/O error,
 *	   HDF5 read failed, filter not available: the message names the
 *	   filter), H5FS_ENOMEM.  Every code maps to EIO with
 *	   h5fs_error_errno() except H5FS_ENOMEM.
 */
H5FS_EXTERN(int) h5fs_reader_read(h5fs_reader *r, void *buf, size_t size, uint64_t off, size_t *nread);

/**
 * Where the byte image lies in the file, when it lies there whole:
 * contiguous, unfiltered, allocated, not external.  The image is then
 * the h5fs_reader_size() bytes at @p file_off of the file, and a daemon
 * may serve reads from the descriptor directly.
 *
 * @return 0, H5FS_ENOTSUPPORTED for any other layout
 */
H5FS_EXTERN(int) h5fs_reader_extent(h5fs_reader *r, uint64_t *file_off);

/** One piece of a byte range that lies verbatim in the file. */
typedef struct {
	uint64_t file_off;	/**< where the piece starts in the file */
	uint64_t len;		/**< its length in bytes */
} h5fs_reader_span;

/**
 * Where the bytes [@p off, @p off + @p size) of the image lie in the
 * file, when every one of them is stored there verbatim, so a daemon can
 * reply from the descriptor without copying (a splice).  That holds for
 * contiguous data (one span) and for chunked data without filters whose
 * chunks hold whole rows (every chunk extent but the first equals the
 * dataset's, so a chunk's in-extent bytes are one run of the image) when
 * a chunk's address is cheap to find (the few-chunk case above): one
 * span per chunk the range touches, in image order.  The range is
 * clipped to the image; @p size 0 or a range past the end gives 0 spans.
 *
 * @param spans room for @p max spans
 * @param nspans the number of spans written
 * @return 0 with *nspans spans; H5FS_ENOTSUPPORTED when some part is
 *	   not stored verbatim (filtered, unallocated, another layout) or
 *	   takes more than @p max spans: read it with h5fs_reader_read();
 *	   H5FS_ECORRUPT when the chunk index is unreadable or names
 *	   bytes outside the file
 */
H5FS_EXTERN(int) h5fs_reader_map(h5fs_reader *r, uint64_t off, size_t size, h5fs_reader_span *spans,
				 size_t max, size_t *nspans);

/** The reader's counters (read atomically, each on its own). */
H5FS_EXTERN(void) h5fs_reader_stats_get(const h5fs_reader *r, h5fs_reader_stats *out);

/**
 * Drop this dataset's chunks from the cache (after the dataset changed);
 * prefetches under way are not kept.
 */
H5FS_EXTERN(void) h5fs_reader_invalidate(h5fs_reader *r);

H5FS_END_DECL

#endif
