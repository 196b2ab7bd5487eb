/*
 * What the reader's files share (reader.c: open and describe a dataset;
 * reader_io.c: boxes, pread, copies; reader_chunk.c: locating, loading
 * and serving chunks; reader_read.c: requests and prefetching).  The
 * design is told at the top of reader.c.  Internal to libh5fs.
 */
#ifndef H5FS_LIB_READER_INT_H
#define H5FS_LIB_READER_INT_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "chunkcache.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/reader.h"

/* Largest compact dataset the format allows. */
#define COMPACT_MAX ((uint64_t)65536)
/* Elements read per H5Dread() of the fallback path, in bytes. */
#define FALLBACK_WINDOW ((size_t)8 << 20)
/* Unfiltered chunks with rows shorter than this are loaded whole. */
#define SHORT_ROW 4096
/* A chunk cached as its in-extent part only (read through HDF5). */
#define CHUNK_CLIPPED 1u

/* Sequential reads: a request starting this close to the last one's end. */
#define PF_NEAR ((uint64_t)1 << 20)
/* ... prefetch at least this many bytes ahead (tiny chunks) ... */
#define PF_MIN_WINDOW ((uint64_t)1 << 20)
/* ... at most this many chunks per request, and at most 1/PF_CACHE_SHARE of the cache. */
#define PF_MAX_TASKS 8
#define PF_CACHE_SHARE 4

enum reader_kind {
	KIND_CONTIG,	/* pread at file_off */
	KIND_FILL,	/* not allocated: the fill value */
	KIND_MEM,	/* compact: held in mem */
	KIND_CHUNKED,
	KIND_HDF5	/* H5Dread of the covered elements */
};

struct h5fs_reader {
	enum reader_kind kind;
	int fd;
	hid_t dset;		/* our reference, or H5I_INVALID_HID */
	hid_t memtype;		/* a copy of the file type, n-bit integers widened */
	int widened;		/* ... they were: no byte is served raw */
	hid_t fspace;		/* for selections (used under the lock) */
	int scalar;
	int rank;		/* >= 1; a scalar is [1] */
	hsize_t dims[H5S_MAX_RANK];
	hsize_t stride[H5S_MAX_RANK];	/* elements per unit of each dim */
	hsize_t cdims[H5S_MAX_RANK];
	hsize_t nchunks[H5S_MAX_RANK];
	size_t tsize;
	uint64_t npoints;
	uint64_t size;
	uint64_t file_off;
	uint8_t *fill;
	int fill_zero;
	uint8_t *mem;
	h5fs__filter filters[H5Z_MAX_NFILTERS];
	int nfilters;
	int ours;
	int by_coord;		/* few chunks: H5Dget_chunk_info_by_coord */
	int dont_filter_partial;
	char *missing;		/* first filter libhdf5 lacks, or NULL */
	size_t chunk_bytes;
	uint64_t chunk_addr_bias;	/* added to H5Dget_chunk_info_by_coord() addresses */
	_Atomic uint64_t file_size;
	h5fs_chunk_cache *cache;
	uint64_t dev, ino, obj;
	char *name;
	_Atomic uint64_t st_bytes_read;
	_Atomic uint64_t st_touched;
	_Atomic uint64_t st_decoded;
	_Atomic uint64_t st_hits;
	_Atomic uint64_t st_hdf5_reads;
	_Atomic uint64_t st_prefetched;

	/*
	 * Prefetching (chunked, with a cache).  The reader is shared with the
	 * pool's queued and running tasks: refs counts the owner's reference
	 * and one per task; the last one frees the memory.  closing is set
	 * (under the HDF5 lock) by h5fs_reader_free(), after which no task
	 * makes an HDF5 call; gen changes when cached chunks must not be
	 * offered any more (free, invalidate).
	 */
	atomic_int refs;
	atomic_int closing;
	atomic_uint gen;
	uint64_t pf_window;	/* bytes ahead; 0: no prefetching */
	int pf_init;		/* pf_mu and pf_cond were made */
	pthread_mutex_t pf_mu;
	pthread_cond_t pf_cond;	/* pf_busy went down */
	int pf_busy;		/* tasks past their HDF5 part (pf_mu) */
	uint64_t pf_last_end;	/* end of the latest request (pf_mu) */
	uint64_t pf_upto;	/* prefetches asked up to this byte (pf_mu) */
	uint64_t pf_last_idx;	/* last chunk asked for, plus 1; 0 none (pf_mu) */
};

/* A set of boxes covering a linear element range. */
struct boxes {
	int n;
	hsize_t *start;		/* n * rank each */
	hsize_t *count;
	hsize_t *clo;		/* chunk coordinate range, inclusive */
	hsize_t *chi;
};

/* Where a fetched chunk's bytes come from. */
enum src_mode { SRC_MEM, SRC_FILE, SRC_FILL, SRC_HDF5 };

struct src {
	enum src_mode mode;
	h5fs__chunk *chunk;
	const uint8_t *data;
	size_t len;
	uint64_t addr;
	hsize_t origin[H5S_MAX_RANK];
	hsize_t lstride[H5S_MAX_RANK];	/* of the data's own shape */
};



/*
 * Where a chunk is, as the HDF5 part of a fetch found it (chunk_locate,
 * under the lock); chunk_load() then gets the bytes without the lock.
 */
enum loc_kind {
	LOC_FILL,	/* not allocated */
	LOC_ADDR,	/* stored bytes at addr in the file (few chunks) */
	LOC_STORED,	/* stored bytes in data, read by H5Dread_chunk (many) */
	LOC_DECODED,	/* the in-extent part in data, read by H5Dread */
	LOC_PIECES	/* too large to hold: H5Dread each piece (SRC_HDF5) */
};

struct loc {
	enum loc_kind kind;
	uint64_t addr;
	uint64_t stored;
	unsigned int mask;
	uint8_t *data;		/* malloc'd: LOC_STORED, LOC_DECODED */
	size_t len;
};

/* reader_chunk.c */
int h5fs__rd_chunk_filtered(const h5fs_reader *r, unsigned int mask, int edge);
int h5fs__rd_locate_by_coord(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc);
int h5fs__rd_chunk_locate(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc);
int h5fs__rd_chunk_load(h5fs_reader *r, const hsize_t *cc, struct src *s, int edge, struct loc *loc, int hint,
		      h5fs__chunk **out);
void h5fs__rd_chunk_place(const h5fs_reader *r, const hsize_t *cc, h5fs__chunk_key *key, hsize_t *origin, int *edge);
int h5fs__rd_box_has_chunk(const h5fs_reader *r, const struct boxes *bx, int k, const hsize_t *cc);
int h5fs__rd_read_chunked(h5fs_reader *r, uint8_t *buf, uint64_t off, uint64_t end);

/* reader_io.c */
void h5fs__rd_stat_add(_Atomic uint64_t *c, uint64_t n);
const char *h5fs__rd_reader_name(const h5fs_reader *r);
int h5fs__rd_chunk_error(const h5fs_reader *r, const hsize_t *cc, int code);
int h5fs__rd_in_file(h5fs_reader *r, uint64_t addr, uint64_t len);
int h5fs__rd_pread_full(h5fs_reader *r, void *buf, size_t len, uint64_t at);
void h5fs__rd_fill_bytes(const h5fs_reader *r, uint8_t *dst, size_t len, uint64_t pos);
int h5fs__rd_boxes_make(const h5fs_reader *r, uint64_t a, uint64_t b, struct boxes *bx);
void h5fs__rd_boxes_free(struct boxes *bx);
int h5fs__rd_copy_box(h5fs_reader *r, const struct src *s, const hsize_t *lo, const hsize_t *hi,
		    uint8_t *buf, uint64_t off, uint64_t end);
void h5fs__rd_src_shape(const h5fs_reader *r, struct src *s, const hsize_t *shape);
void h5fs__rd_clipped_shape(const h5fs_reader *r, const hsize_t *origin, hsize_t *shape);
int h5fs__rd_hdf5_read_boxes(h5fs_reader *r, const hsize_t *start, const hsize_t *count, int nbox,
			   uint64_t nel, uint8_t **out);

/* reader_read.c */
void h5fs__rd_reader_unref(h5fs_reader *r);
void h5fs__rd_prefetch(h5fs_reader *r, uint64_t off, uint64_t end);
void h5fs__rd_prefetch_setup(h5fs_reader *r);

#endif
