/*
 * The tree every dtype conversion goes through (dtype.c: strings and
 * JSON descr; dtype_hid.c: HDF5 types).  Internal to libh5fs.
 */
#ifndef H5FS_LIB_DTYPE_INT_H
#define H5FS_LIB_DTYPE_INT_H

#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "json.h"
#include "h5fs/sys/hdf5.h"

enum dt_kind {
	DT_INT,
	DT_UINT,
	DT_FLOAT,
	DT_BOOL,
	DT_COMPLEX,
	DT_STR,		/* fixed-length string */
	DT_VSTR,	/* variable-length string */
	DT_OPAQUE,
	DT_TIME,	/* numpy datetime64/timedelta64: h5py's tagged opaque */
	DT_OBJECT,	/* no fixed image: references, vlen sequences */
	DT_ARRAY,
	DT_COMPOUND
};

struct dt;

struct dt_field {
	char *name;
	size_t offset;
	struct dt *type;
};

struct dt {
	enum dt_kind kind;
	char order;		/* '<', '>' or '|' */
	size_t size;		/* bytes of one element; 0 for DT_VSTR */
	struct dt *base;	/* DT_ARRAY */
	int ndims;
	uint64_t dims[H5S_MAX_RANK];
	size_t nfields;		/* DT_COMPOUND, in offset order */
	struct dt_field *fields;
	char *unit;		/* DT_TIME: "M8[s]", "m8" ... (no order) */
};

/* dtype.c */
void h5fs__dt_free(struct dt *t);
struct dt *h5fs__dt_new(enum dt_kind kind, char order, size_t size);
size_t h5fs__dt_slot_size(const struct dt *t);
int h5fs__dt_to_string(char **out, const struct dt *t);
int h5fs__dt_parse_simple(struct dt **out, const char *text, size_t len);
int h5fs__dt_parse(struct dt **out, const char *text);

#endif
