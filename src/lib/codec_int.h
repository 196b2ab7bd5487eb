/*
 * What the attribute codec's files share (codec.c: formatting and
 * attributes; codec_desc.c: descriptors and bytes; codec_parse.c: text
 * to bytes).  Internal to libh5fs.
 */
#ifndef H5FS_LIB_CODEC_INT_H
#define H5FS_LIB_CODEC_INT_H

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "json.h"
#include "h5fs/sys/hdf5.h"

/* Largest attribute image the codec reads or builds. */
#define CODEC_MAX_BYTES ((size_t)64 << 20)

enum cdesc_kind {
	CD_INT,		/* integers and bitfields */
	CD_FLOAT,	/* IEEE binary16/32/64 */
	CD_BOOL,	/* h5py's bool enum */
	CD_ENUM,
	CD_FSTR,	/* fixed-length string */
	CD_VSTR,	/* variable-length string: char * */
	CD_OPAQUE,
	CD_COMPOUND,
	CD_ARRAY	/* HDF5 array datatype */
};

struct cdesc {
	enum cdesc_kind kind;
	size_t size;
	bool be;		/* INT, FLOAT: big-endian */
	bool sign;		/* INT */
	H5T_str_t pad;		/* FSTR */
	bool has_vstr;		/* holds variable-length strings somewhere */
	size_t n;		/* ENUM, COMPOUND: members; ARRAY: elements */
	char **names;		/* ENUM, COMPOUND member names */
	unsigned char *values;	/* ENUM: n values of size bytes each */
	size_t *offsets;	/* COMPOUND */
	struct cdesc **members;	/* COMPOUND */
	struct cdesc *base;	/* ENUM, BOOL: base integer; ARRAY: element */
	int ndim;		/* ARRAY */
	hsize_t *dims;		/* ARRAY */
};

/* codec_desc.c */
void h5fs__cdesc_free(struct cdesc *d);
int h5fs__cdesc_build(struct cdesc **out, hid_t type, unsigned int depth);
size_t h5fs__cdesc_nelem(const struct cdesc *d);
int h5fs__shape_points(size_t *out, int ndim, const hsize_t *dims, size_t size);
uint64_t h5fs__get_uint(const unsigned char *p, size_t size, bool be);
void h5fs__put_uint(unsigned char *p, size_t size, bool be, uint64_t v);
void h5fs__get_int(const struct cdesc *d, const unsigned char *p, int64_t *sv, uint64_t *uv);
double h5fs__half_to_double(uint16_t h);
uint16_t h5fs__double_to_half(double v);

/* codec_parse.c */
int h5fs__parse_fail(const char *fmt, const char *arg);
void h5fs__buffer_free_desc(const struct cdesc *d, void *buf, size_t n);
int h5fs__codec_parse_desc(void **out, const struct cdesc *d, int ndim, const hsize_t *dims,
			    const char *text, size_t len);

#endif
