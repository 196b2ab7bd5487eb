/*
 * Library-internal interface of the chunk cache (chunkcache.c) and of
 * our own filter decoders (filters.c), used by the reader (reader.c).
 */
#ifndef H5FS_CHUNKCACHE_H
#define H5FS_CHUNKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

#include "h5fs/sys/reader.h"

/* A cached chunk's identity: file, dataset in the file, chunk index. */
typedef struct {
	uint64_t dev;
	uint64_t ino;
	uint64_t obj;
	uint64_t index;
} h5fs__chunk_key;

/*
 * One decoded chunk.  Reference-counted: the cache holds one reference
 * while the chunk is in it, each user one more.  data and len never
 * change after the chunk was made; flags is the reader's to use.
 */
typedef struct h5fs__chunk h5fs__chunk;

struct h5fs__chunk {
	h5fs__chunk_key key;
	uint8_t *data;
	size_t len;
	unsigned int flags;
	/* the cache's bookkeeping */
	atomic_int refs;
	int cached;
	int pending;		/* a reservation: no data yet, not in the LRU */
	h5fs__chunk *hnext;
	h5fs__chunk *prev;
	h5fs__chunk *next;
};

/*
 * A new chunk that owns @p data (malloc'd, @p len bytes), one reference
 * held by the caller.  On failure @p data is freed and NULL returned with
 * the OOM error set.
 */
h5fs__chunk *h5fs__chunk_new(uint8_t *data, size_t len, unsigned int flags);

/* Drop a reference; the last one frees the chunk.  NULL is a no-op. */
void h5fs__chunk_release(h5fs__chunk *c);

/*
 * Look up @p key; on a hit return the chunk with a reference for the
 * caller and make it the most recently used.  On a miss return NULL and
 * reserve the key for the caller, who must then either offer the chunk
 * with h5fs__chunk_cache_put() or give up with
 * h5fs__chunk_cache_abandon(): other threads asking for the same key
 * meanwhile wait instead of decoding the same chunk again (FUSE
 * readahead sends several requests for one chunk at once).  NULL
 * without a reservation when @p cache is NULL.
 */
h5fs__chunk *h5fs__chunk_cache_get(h5fs_chunk_cache *cache, const h5fs__chunk_key *key);

/*
 * Offer @p c (held by the caller) to the cache under @p key, ending the
 * caller's reservation.  When the key is already present the cache keeps
 * the older chunk and *c is swapped for it (the caller's reference moves
 * along).  Chunks too large for the cache are not kept.
 */
void h5fs__chunk_cache_put(h5fs_chunk_cache *cache, const h5fs__chunk_key *key, h5fs__chunk **c);

/* End the caller's reservation of @p key without a chunk. */
void h5fs__chunk_cache_abandon(h5fs_chunk_cache *cache, const h5fs__chunk_key *key);

/*
 * Reserve @p key when it is neither cached nor reserved, without
 * waiting: 1 when the caller now holds the reservation (to end with
 * put() or abandon()), 0 when the chunk is there or on its way (or
 * without memory, or @p cache is NULL).
 */
int h5fs__chunk_cache_reserve(h5fs_chunk_cache *cache, const h5fs__chunk_key *key);

/*
 * put(), but keep the chunk only while *@p gen still equals @p expect,
 * checked under the cache's mutex: a prefetched chunk whose dataset was
 * invalidated (or whose reader went away) meanwhile is not kept.  The
 * reservation ends either way.  Returns whether the chunk was offered.
 */
int h5fs__chunk_cache_put_if(h5fs_chunk_cache *cache, const h5fs__chunk_key *key, h5fs__chunk **c,
			     const atomic_uint *gen, unsigned int expect);

/* Drop every chunk of dataset (dev, ino, obj). */
void h5fs__chunk_cache_drop(h5fs_chunk_cache *cache, uint64_t dev, uint64_t ino, uint64_t obj);

/*
 * The cache's background pool (prefetching): one worker per online core
 * (at most 8), started on the first submit, joined by
 * h5fs_chunk_cache_free(), with a bounded queue.
 *
 * A task is run(owner, arg) in a worker, or cancel(owner, arg) instead
 * when it is taken off the queue unrun (h5fs__chunk_cache_cancel, or
 * the cache being freed); exactly one of the two is called.
 */
typedef struct {
	void (*run)(void *owner, uint64_t arg);
	void (*cancel)(void *owner, uint64_t arg);
	void *owner;
	uint64_t arg;
} h5fs__task;

/*
 * Queue @p t: 1 when queued, 0 when not (queue full, no worker could be
 * started, cache of size 0 or NULL, or being freed); on 0 nothing of
 * @p t is called.
 */
int h5fs__chunk_cache_submit(h5fs_chunk_cache *cache, const h5fs__task *t);

/* Take @p owner's queued tasks off the queue, calling their cancel(). */
void h5fs__chunk_cache_cancel(h5fs_chunk_cache *cache, const void *owner);

/* Wait until the queue is empty and no task runs (for tests). */
void h5fs__chunk_cache_idle(h5fs_chunk_cache *cache);

/* The size the cache was made with (0 for NULL). */
size_t h5fs__chunk_cache_capacity(const h5fs_chunk_cache *cache);

/* Workers the pool has started (0 before the first submit). */
int h5fs__chunk_cache_workers(h5fs_chunk_cache *cache);

/* reader.c */

/*
 * How readers opened from now on find chunks: 0 chooses by the chunk
 * count, 1 always by coordinate (H5Dget_chunk_info_by_coord and pread),
 * 2 always raw (H5Dread_chunk).  For tests.
 */
extern int h5fs__reader_lookup;

/*
 * How many chunks ahead readers opened from now on prefetch when they
 * see sequential reads (0 never; default H5FS__PREFETCH_AHEAD).  For
 * tests.
 */
extern int h5fs__reader_prefetch;
#define H5FS__PREFETCH_AHEAD 3

/* filters.c */

/* HDF5's Fletcher-32 checksum of @p len bytes. */
uint32_t h5fs__fletcher32(const void *data, size_t len);

/*
 * Undo HDF5's shuffle filter: @p src holds @p len bytes of @p elsize
 * byte planes (a trailing len % elsize bytes verbatim); write the
 * elements to @p dst (not overlapping).
 */
void h5fs__unshuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elsize);

/*
 * Inflate the zlib stream @p src into exactly @p dst_len bytes.
 *
 * @return 0; H5FS_ECORRUPT when the stream is corrupt, ends early or
 *	   holds more than @p dst_len bytes
 */
int h5fs__inflate_exact(uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len);

/* One filter of a pipeline, as H5Pget_filter2() describes it. */
typedef struct {
	int id;
	unsigned int flags;
	unsigned int cd0;	/* first client value (shuffle: element size) */
	size_t ncd;
} h5fs__filter;

/*
 * Whether we decode every filter of @p filters ourselves: deflate,
 * shuffle and fletcher32 only, at most one deflate.
 */
int h5fs__pipeline_ours(const h5fs__filter *filters, int n);

/*
 * Decode a stored chunk through the pipeline @p filters (write order),
 * skipping the filters whose bit is set in @p mask.
 *
 * @param stored the stored bytes (malloc'd; ownership passes to the call)
 * @param[out] out the decoded chunk, malloc'd, exactly @p chunk_len bytes
 * @return 0, H5FS_ECORRUPT, H5FS_ENOMEM
 */
int h5fs__pipeline_decode(uint8_t **out, const h5fs__filter *filters, int n, unsigned int mask, uint8_t *stored, size_t stored_len, size_t chunk_len, size_t elsize);

#endif
