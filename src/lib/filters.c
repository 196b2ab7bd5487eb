/*
 * Our own decoders for the common HDF5 filters: deflate (zlib), shuffle
 * and fletcher32, so that chunks decode outside the HDF5 lock.  Each
 * follows libhdf5's filter of the same name (H5Zdeflate.c, H5Zshuffle.c,
 * H5Zfletcher32.c) on the read side.  Every other filter is left to
 * H5Dread() by the reader.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "chunkcache.h"

#define FLETCHER_LEN 4

uint32_t h5fs__fletcher32(const void *data_, size_t len_)
{
	const uint8_t *data = data_;
	size_t len = len_ / 2;
	uint32_t sum1 = 0, sum2 = 0;

	/* 360 sums of 16-bit words fit in 32 bits before folding */
	while (len) {
		size_t tlen = len > 360 ? 360 : len;

		len -= tlen;
		do {
			sum1 += (uint32_t)(((uint16_t)data[0]) << 8) | ((uint16_t)data[1]);
			data += 2;
			sum2 += sum1;
		} while (--tlen);
		sum1 = (sum1 & 0xffff) + (sum1 >> 16);
		sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	}
	if (len_ % 2) {
		sum1 += (uint32_t)(((uint16_t)*data) << 8);
		sum2 += sum1;
		sum1 = (sum1 & 0xffff) + (sum1 >> 16);
		sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	}
	sum1 = (sum1 & 0xffff) + (sum1 >> 16);
	sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	return (sum2 << 16) | sum1;
}

/* Verify the trailing checksum of @p len bytes (libhdf5 accepts both orders). */
static int fletcher32_check(const uint8_t *buf, size_t len)
{
	uint32_t stored, sum, swapped;

	if (len < FLETCHER_LEN) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "fletcher32: chunk shorter than its checksum");
		return H5FS_ECORRUPT;
	}
	len -= FLETCHER_LEN;
	stored = (uint32_t)buf[len] | (uint32_t)buf[len + 1] << 8 |
		(uint32_t)buf[len + 2] << 16 | (uint32_t)buf[len + 3] << 24;
	sum = h5fs__fletcher32(buf, len);
	/* the byte-swapped form written by libhdf5 before 1.6.3 */
	swapped = ((sum & 0x00ff00ffu) << 8) | ((sum >> 8) & 0x00ff00ffu);
	if (stored != sum && stored != swapped) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "fletcher32 checksum mismatch");
		return H5FS_ECORRUPT;
	}
	return 0;
}

void h5fs__unshuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elsize)
{
	size_t n, i, j, left;

	if (elsize <= 1 || len < elsize) {
		memcpy(dst, src, len);
		return;
	}
	n = len / elsize;
	for (j = 0; j < elsize; j++) {
		const uint8_t *s = src + j * n;
		uint8_t *d = dst + j;

		for (i = 0; i < n; i++, d += elsize)
			*d = s[i];
	}
	left = len - n * elsize;
	if (left)
		memcpy(dst + n * elsize, src + n * elsize, left);
}

int h5fs__inflate_exact(uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len)
{
	z_stream z;
	uint8_t extra;
	int zr, error = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		h5fs__error_set(H5FS_ERROR_NOMEMORY, "deflate: cannot initialise zlib");
		return H5FS_ENOMEM;
	}
	/* zlib counts in uInt: feed and drain in pieces */
	for (;;) {
		size_t in_done = (size_t)(z.next_in ? (const uint8_t *)z.next_in - src : 0);
		size_t out_done = (size_t)(z.next_out ? z.next_out - dst : 0);
		size_t in_left = src_len - in_done, out_left = dst_len - out_done;

		z.next_in = (Bytef *)(uintptr_t)(src + in_done);
		z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
		if (out_left) {
			z.next_out = dst + out_done;
			z.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
		} else {
			/* full: any further output means the chunk is too long */
			z.next_out = &extra;
			z.avail_out = 1;
		}
		zr = inflate(&z, Z_NO_FLUSH);
		if (!out_left && z.avail_out == 0) {
			h5fs__error_set(H5FS_ERROR_INTERNAL, "deflate: chunk decompresses to more than %zu bytes", dst_len);
			error = H5FS_ECORRUPT;
			goto out;
		}
		if (!out_left)
			z.next_out = dst + dst_len;
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && z.avail_in == 0 &&
		    (size_t)((const uint8_t *)z.next_in - src) == src_len) {
			h5fs__error_set(H5FS_ERROR_INTERNAL, "deflate: stream ends early");
			error = H5FS_ECORRUPT;
			goto out;
		}
		if (zr == Z_MEM_ERROR) {
			error = h5fs__error_oom();
			goto out;
		}
		h5fs__error_set(H5FS_ERROR_INTERNAL, "deflate: corrupt stream (%s)", z.msg ? z.msg : "no detail");
		error = H5FS_ECORRUPT;
		goto out;
	}
	if (z.total_out != dst_len) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "deflate: chunk decompresses to %lu bytes, expected %zu",
				(unsigned long)z.total_out, dst_len);
		error = H5FS_ECORRUPT;
	}
out:
	inflateEnd(&z);
	return error;
}

int h5fs__pipeline_ours(const h5fs__filter *filters, int n)
{
	int i, deflates = 0;

	for (i = 0; i < n; i++) {
		switch (filters[i].id) {
		case H5Z_FILTER_DEFLATE:
			deflates++;
			break;
		case H5Z_FILTER_SHUFFLE:
		case H5Z_FILTER_FLETCHER32:
			break;
		default:
			return 0;
		}
	}
	return deflates <= 1;
}

int h5fs__pipeline_decode(uint8_t **out, const h5fs__filter *filters, int n, unsigned int mask,
			  uint8_t *stored, size_t stored_len, size_t chunk_len, size_t elsize)
{
	size_t sizes[H5Z_MAX_NFILTERS + 1];
	uint8_t *cur = stored, *next = NULL;
	size_t len = stored_len;
	int i, error = 0;

	*out = NULL;
	if (n > H5Z_MAX_NFILTERS) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "pipeline of %d filters", n);
		error = H5FS_ECORRUPT;
		goto out;
	}
	/* the size entering each filter on write; deflate's output is open */
	sizes[0] = chunk_len;
	for (i = 0; i < n; i++) {
		size_t in = sizes[i];

		if (mask & (1u << i) || in == SIZE_MAX)
			sizes[i + 1] = in;
		else if (filters[i].id == H5Z_FILTER_FLETCHER32)
			sizes[i + 1] = in + FLETCHER_LEN;
		else if (filters[i].id == H5Z_FILTER_DEFLATE)
			sizes[i + 1] = SIZE_MAX;
		else
			sizes[i + 1] = in;
	}
	for (i = n - 1; i >= 0; i--) {
		const h5fs__filter *f = &filters[i];

		if (mask & (1u << i))
			continue;
		if (sizes[i + 1] != SIZE_MAX && len != sizes[i + 1]) {
			h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk holds %zu bytes before filter %d, expected %zu",
					len, f->id, sizes[i + 1]);
			error = H5FS_ECORRUPT;
			goto out;
		}
		switch (f->id) {
		case H5Z_FILTER_FLETCHER32:
			if ((error = fletcher32_check(cur, len)) < 0)
				goto out;
			len -= FLETCHER_LEN;
			break;
		case H5Z_FILTER_SHUFFLE:
			if (!(next = malloc(len ? len : 1))) {
				error = h5fs__error_oom();
				goto out;
			}
			h5fs__unshuffle(next, cur, len, f->ncd > 0 && f->cd0 > 0 ? f->cd0 : elsize);
			free(cur);
			cur = next;
			next = NULL;
			break;
		case H5Z_FILTER_DEFLATE:
			if (!(next = malloc(sizes[i] ? sizes[i] : 1))) {
				error = h5fs__error_oom();
				goto out;
			}
			if ((error = h5fs__inflate_exact(next, sizes[i], cur, len)) < 0)
				goto out;
			free(cur);
			cur = next;
			next = NULL;
			len = sizes[i];
			break;
		default:
			h5fs__error_set(H5FS_ERROR_INTERNAL, "filter %d has no decoder of ours", f->id);
			error = H5FS_ENOTSUPPORTED;
			goto out;
		}
	}
	if (len != chunk_len) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk decodes to %zu bytes, expected %zu", len, chunk_len);
		error = H5FS_ECORRUPT;
		goto out;
	}
	*out = cur;
	cur = NULL;
out:
	free(next);
	free(cur);
	return error;
}
