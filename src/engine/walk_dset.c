/*
 * The indexer's child, datasets: the description (describe.c, shared
 * with tree.c), then a probe of the data under the watchdog -- a little
 * of it, all of it when small, every chunk's index entry when large --
 * so that what crashes libhdf5 crashes the child, not the daemon.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

static void text_step(void *arg, uint64_t block)
{
	struct walker *wk = arg;

	h5fs_ix_progress(wk, P_PROBE, wk->cur_addr, block);
}

/* The text of a vlen string dataset: where each block of it starts, and its size. */
static void vlstr_scan(struct walker *wk, hid_t did, struct nrec *r)
{
	struct h5fs_dset_desc d = { 0 };

	d.ndim = r->ndim;
	memcpy(d.dims, r->dims, sizeof(d.dims));
	d.nelems = r->nelems;
	wk->cur_addr = r->addr;
	if (h5fs_dset_text(&d, did, text_step, wk) < 0) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, d.errmsg);
		d.errmsg = NULL;
	}
	r->vl_off = d.vl_off;
	r->n_vl = d.n_vl;
	r->size = d.size;
	d.vl_off = NULL;
	h5fs_dset_desc_release(&d);
}

/*
 * A chunked dataset too large to read whole here: iterate over its whole
 * chunk index once (H5Dget_num_chunks(), the walk the daemon's lookups by
 * coordinate make) and look every chunk up in it
 * (H5Dget_chunk_storage_size(), one B-tree lookup each, the daemon's
 * other way; no data read), so that a corrupt index node crashes this
 * child rather than the daemon, wherever later reads go.  The chunk
 * bytes themselves are decoded by the library's own bounds-checked
 * decoders.  Lookups that fail are not errors here: libhdf5 1.10 fails
 * for unallocated chunks.
 */
static void walk_chunk_index(struct walker *wk, hid_t did, hid_t dcpl, struct nrec *r)
{
	hsize_t cd[H5S_MAX_RANK], cc[H5S_MAX_RANK] = { 0 }, origin[H5S_MAX_RANK], nch[H5S_MAX_RANK], nall;
	hid_t space;
	uint64_t total = 1;
	int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);

	if (nd <= 0 || nd != r->ndim)
		return;
	for (int i = 0; i < nd; i++) {
		nch[i] = r->dims[i] / cd[i] + (r->dims[i] % cd[i] != 0);
		if (nch[i] == 0)
			return;
		if (nch[i] > INDEX_WALK_BUDGET / total)
			return;
		total *= nch[i];
	}
	if (total > INDEX_WALK_BUDGET - wk->walked)
		return;
	wk->walked += total;
	/* one iteration over the whole index, as the daemon's by-coordinate lookups make */
	h5fs_ix_progress(wk, P_PROBE, r->addr, 1);
	if ((space = H5Dget_space(did)) < 0 || H5Dget_num_chunks(did, space, &nall) < 0)
		H5Eclear2(H5E_DEFAULT);
	if (space >= 0)
		H5Sclose(space);
	for (uint64_t k = 0; k < total; k++) {
		hsize_t stored;
		int i;

		if (k % 4096 == 0)
			h5fs_ix_progress(wk, P_PROBE, r->addr, 2 + k);
		for (i = 0; i < nd; i++)
			origin[i] = cc[i] * cd[i];
		if (H5Dget_chunk_storage_size(did, origin, &stored) < 0)
			H5Eclear2(H5E_DEFAULT);
		for (i = nd - 1; i >= 0 && ++cc[i] == nch[i]; i--)
			cc[i] = 0;
	}
}

/*
 * A re-index: whether dataset @p r is one the daemon's tree already shows,
 * probed: the same object (address) with the same type, extent and
 * storage, not flagged.  Its data is then not read whole again (nor its
 * chunk index walked): a re-index after each step of a simulation costs
 * the metadata walk, not a read of the file.
 */
static int known_same(struct walker *wk, const struct nrec *r)
{
	const struct h5fs_node *k;
	uint32_t id;

	if (!wk->known || !h5fs_ix_map_get(&wk->known_map, r->addr, &id) || id >= wk->known->nnodes)
		return 0;
	k = &wk->known->nodes[id];
	if (k->kind != H5FS_NK_DATASET || (k->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD | H5FS_NF_VLSTR)) ||
	    (r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE)) || k->esize != r->esize || k->nelems != r->nelems ||
	    k->storage != r->storage || k->ndim != r->ndim || !k->meta[H5FS_M_DTYPE] || !r->meta[H5FS_M_DTYPE] ||
	    strcmp(k->meta[H5FS_M_DTYPE], r->meta[H5FS_M_DTYPE]))
		return 0;
	for (int i = 0; i < r->ndim; i++)
		if (!k->dims || k->dims[i] != r->dims[i])
			return 0;
	return 1;
}

/* Returns whether the data was read whole (or need not be: @p seen). */
static int probe_data(struct walker *wk, hid_t did, hid_t ftype, hid_t fspace, struct nrec *r, int contig_candidate,
		      int seen)
{
	uint64_t k;
	char *hbuf = NULL, *fbuf = NULL;
	int whole = 0;
	hsize_t mdim;
	hid_t mspace;

	h5fs_ix_progress(wk, P_PROBE, r->addr, 0);
	if (h5fs_ix_skipped(wk, P_PROBE, r->addr, 0) || h5fs_ix_skipped(wk, P_PROBE, r->addr, IDX_ALL)) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("reading the data crashed libhdf5"));
		return 1;
	}
	if (r->flags & H5FS_NF_NOIMAGE || r->nelems == 0)
		return 1;
	if (r->flags & H5FS_NF_VLSTR) {
		vlstr_scan(wk, did, r);
		return 1;
	}
	/* the first elements, up to PROBE_BYTES (at least one) */
	k = PROBE_BYTES / r->esize;
	if (k < 1)
		k = 1;
	if (k > r->nelems)
		k = r->nelems;
	if (!contig_candidate)
		k = 1;
	hbuf = malloc(k * r->esize);
	if (!hbuf)
		_exit(4);
	mdim = k;
	mspace = H5Screate_simple(1, &mdim, NULL);
	if (h5fs_select_linear(fspace, r->ndim, r->dims, 0, k) < 0 ||
	    H5Dread(did, ftype, mspace, r->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, hbuf) < 0) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_hdf5_msg("cannot read data"));
		goto out;
	}
	if (seen) {
		whole = 1;	/* probed by an earlier index, unchanged */
	} else if (!contig_candidate && r->size <= FULL_PROBE_MAX && wk->probed + r->size <= FULL_PROBE_BUDGET) {
		/*
		 * Read it all the way the daemon will: a corrupt chunk that
		 * crashes libhdf5 crashes this child, not the mount.
		 */
		h5fs_reader *rd = NULL;
		char *piece = malloc(1 << 20);
		uint64_t off = 0;

		if (!piece)
			_exit(4);
		if (h5fs_reader_open(&rd, did, wk->fd, NULL) == 0) {
			whole = 1;
			while (off < r->size) {
				size_t got = 0;

				h5fs_ix_progress(wk, P_PROBE, r->addr, 1 + off / (1 << 20));
				if (h5fs_reader_read(rd, piece, 1 << 20, off, &got) < 0 || !got) {
					char *m = NULL;

					if (asprintf(&m, "cannot read data at byte %" PRIu64 ": %s", off,
						     h5fs_error_last()->message) < 0)
						m = NULL;
					h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, m);
					break;
				}
				off += got;
			}
			h5fs_reader_free(rd);
		}
		wk->probed += r->size;
		free(piece);
		H5Eclear2(H5E_DEFAULT);
	}
	if (contig_candidate) {
		fbuf = malloc(k * r->esize);
		if (!fbuf)
			_exit(4);
		if (pread(wk->fd, fbuf, k * r->esize, (off_t)r->offset) == (ssize_t)(k * r->esize) &&
		    !memcmp(hbuf, fbuf, k * r->esize))
			r->flags |= H5FS_NF_CONTIG;
	}
out:
	H5Sclose(mspace);
	free(hbuf);
	free(fbuf);
	return whole;
}

void h5fs_ix_dataset_meta(struct walker *wk, hid_t did, struct nrec *r)
{
	hid_t ftype, fspace, dcpl;
	struct h5fs_dset_desc d;

	h5fs_ix_progress(wk, P_DSET, r->addr, 0);
	if (h5fs_ix_skipped(wk, P_DSET, r->addr, 0) || h5fs_ix_skipped(wk, P_DSET, r->addr, IDX_ALL)) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("reading the dataset's metadata crashed libhdf5"));
		return;
	}
	if (h5fs_dset_ids_open(did, &ftype, &fspace, &dcpl) < 0) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_hdf5_msg("cannot read dataset metadata"));
		h5fs_dset_ids_close(ftype, fspace, dcpl);
		return;
	}
	h5fs_dset_describe_ids(&d, did, ftype, fspace, dcpl, wk->file_size);
	r->flags |= d.flags;
	if (d.errmsg) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, d.errmsg);
		d.errmsg = NULL;
	}
	r->ndim = d.ndim;
	memcpy(r->dims, d.dims, sizeof(r->dims));
	r->nelems = d.nelems;
	r->esize = d.esize;
	r->size = d.size;
	r->storage = d.storage;
	r->offset = d.offset;
	for (int i = 0; i < H5FS_M_COUNT; i++) {
		r->meta[i] = d.meta[i];
		d.meta[i] = NULL;
	}
	if (!(r->flags & H5FS_NF_DATA_BAD) &&
	    !probe_data(wk, did, ftype, fspace, r, d.contig, known_same(wk, r)) &&
	    d.layout == H5D_CHUNKED && !(r->flags & H5FS_NF_DATA_BAD))
		walk_chunk_index(wk, did, dcpl, r);
	h5fs_dset_desc_release(&d);
	h5fs_dset_ids_close(ftype, fspace, dcpl);
}
