/*
 * h5fs-mksample FILE [STEPS]: write a bamboost-style simulation results
 * file with libh5fs alone -- parameters as attributes, a mesh, a time
 * series of two fields, globals -- the layout of spec section 6.2.
 * `make demo` mounts what this writes; the interop tests read it with
 * h5py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5fs.h"

#define CHECK(expr) do { \
	if ((expr) < 0) { \
		fprintf(stderr, "h5fs-mksample: %s: %s\n", #expr, h5fs_error_last()->message); \
		exit(1); \
	} \
} while (0)

static h5fs_ref *group(h5fs_ref *parent, const char *name)
{
	h5fs_ref *g;

	CHECK(h5fs_group_require_group(&g, parent, name));
	return g;
}

static void write_steps(h5fs_ref *data, int steps)
{
	h5fs_ref *fields = group(data, "fields"), *globals = group(data, "globals");
	h5fs_ref *disp = group(fields, "displacement"), *stress = group(fields, "stress"), *ds;
	h5fs_dataset_spec spec = H5FS_DATASET_SPEC_INIT;
	uint64_t ddims[2] = { 4, 2 }, sdims[3] = { 2, 2, 2 }, one = 1, chunk2[2] = { 1, 2 };
	uint64_t map_dims = (uint64_t)steps, unlimited = UINT64_MAX, rdims[2] = { (uint64_t)steps, 2 };
	uint64_t rmax[2] = { UINT64_MAX, 2 };
	double nan = NAN, *times = malloc(sizeof(double) * (size_t)steps);
	double *energy = malloc(sizeof(double) * (size_t)steps), *reaction = malloc(sizeof(double) * 2 * (size_t)steps);
	h5fs_file *f = h5fs_ref_file(data);
	char name[32];

	for (int s = 0; s < steps; s++) {
		double u[8], sig[8];

		times[s] = steps > 1 ? (double)s / (steps - 1) : 0.0;
		for (int i = 0; i < 8; i++) {
			u[i] = 0.001 * (s + 1) * (i + 1);
			sig[i] = 2.1e11 * u[i];
		}
		energy[s] = 0.5 * times[s] * times[s];
		reaction[2 * s] = -times[s];
		reaction[2 * s + 1] = times[s];
		snprintf(name, sizeof(name), "%d", s);
		CHECK(h5fs_group_write_contiguous(disp, name, "<f8", 2, ddims, u, 0));
		CHECK(h5fs_ref_child(&ds, disp, name));
		CHECK(h5fs_attr_set_string(ds, "mesh", "default"));
		CHECK(h5fs_attr_set_string(ds, "type", "Node"));
		h5fs_ref_free(ds);
		CHECK(h5fs_group_write_contiguous(stress, name, "<f8", 3, sdims, sig, 0));
		CHECK(h5fs_ref_child(&ds, stress, name));
		CHECK(h5fs_attr_set_string(ds, "mesh", "default"));
		CHECK(h5fs_attr_set_string(ds, "type", "Cell"));
		h5fs_ref_free(ds);
	}
	/* .map and globals: growable, chunked, NaN-filled, as bamboost makes them */
	CHECK(h5fs_file_open(f, "a"));
	spec.dtype = "<f8";
	spec.ndim = 1;
	spec.dims = &map_dims;
	spec.maxdims = &unlimited;
	spec.chunks = &one;
	spec.fill = &nan;
	CHECK(h5fs_group_require_dataset(data, ".map", &spec, 0));
	CHECK(h5fs_group_require_dataset(globals, "energy", &spec, 0));
	spec.ndim = 2;
	spec.dims = rdims;
	spec.maxdims = rmax;
	spec.chunks = chunk2;
	CHECK(h5fs_group_require_dataset(globals, "reaction", &spec, 0));
	CHECK(h5fs_file_close(f));
	CHECK(h5fs_group_write_contiguous(data, ".map", "<f8", 1, &map_dims, times, 0));
	CHECK(h5fs_group_write_contiguous(globals, "energy", "<f8", 1, &map_dims, energy, 0));
	CHECK(h5fs_group_write_contiguous(globals, "reaction", "<f8", 2, rdims, reaction, 0));
	free(times);
	free(energy);
	free(reaction);
	h5fs_ref_free(disp);
	h5fs_ref_free(stress);
	h5fs_ref_free(fields);
	h5fs_ref_free(globals);
}

int main(int argc, char **argv)
{
	h5fs_file_options opts = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f;
	h5fs_ref *root, *params, *links, *mesh, *mdefault, *data, *topo;
	static const double coords[8] = { 0, 0, 1, 0, 1, 1, 0, 1 };
	static const int64_t cells[6] = { 0, 1, 2, 0, 2, 3 };
	static const double load_steps[3] = { 0, 0.5, 1 }, weights[2] = { 0.5, 0.5 };
	static const char *series[1] = { "data" };
	uint64_t cdims[2] = { 4, 2 }, tdims[2] = { 2, 3 }, wdims = 2;
	int steps = argc > 2 ? atoi(argv[2]) : 3;

	if (argc < 2 || steps < 1) {
		fprintf(stderr, "usage: h5fs-mksample FILE [STEPS]\n");
		return 2;
	}
	opts.writable = 1;
	CHECK(h5fs_file_new(&f, argv[1], &opts));
	CHECK(h5fs_file_open(f, "w"));
	CHECK(h5fs_ref_new(&root, f, "/", H5FS_KIND_GROUP));
	CHECK(h5fs_attr_set_string(root, "status", "finished"));
	CHECK(h5fs_attr_set_string(root, "created_at", "{\"__type__\": \"datetime\", \"__value__\": \"2026-11-26T09:06:49.454540\"}"));
	CHECK(h5fs_attr_set_string(root, "description", "plate with hole"));
	CHECK(h5fs_attr_set_string(root, "tags", "{\"__type__\": \"set\", \"__value__\": [\"elastic\"]}"));
	CHECK(h5fs_attr_set_string_array(root, ".series_paths", 1, series));

	params = group(root, ".parameters");
	CHECK(h5fs_attr_set_double(params, "E", 2.1e11));
	CHECK(h5fs_attr_set_double(params, "nu", 0.3));
	CHECK(h5fs_attr_set_bool(params, "active", 1));
	CHECK(h5fs_attr_set_double_array(params, "load_steps", 3, load_steps));
	CHECK(h5fs_attr_set_int64(params, "solver.max_iter", 50));
	CHECK(h5fs_attr_set_double(params, "solver.tol", 1e-8));
	CHECK(h5fs_group_write_contiguous(params, "weights", "<f8", 1, &wdims, weights, 0));

	links = group(root, ".links");
	CHECK(h5fs_attr_set_string(links, "mesh_source", "77AA00BB11:meshgen01"));

	mesh = group(root, ".mesh");
	mdefault = group(mesh, "default");
	CHECK(h5fs_group_write_contiguous(mdefault, "coordinates", "<f8", 2, cdims, coords, 0));
	CHECK(h5fs_group_write_contiguous(mdefault, "topology", "<i8", 2, tdims, cells, 0));
	CHECK(h5fs_ref_child(&topo, mdefault, "topology"));
	CHECK(h5fs_attr_set_string(topo, "cell_type", "Triangle"));

	data = group(root, "data");
	CHECK(h5fs_attr_set_bool(data, ".series", 1));
	write_steps(data, steps);
	CHECK(h5fs_file_close(f));

	h5fs_ref_free(topo);
	h5fs_ref_free(data);
	h5fs_ref_free(mdefault);
	h5fs_ref_free(mesh);
	h5fs_ref_free(links);
	h5fs_ref_free(params);
	h5fs_ref_free(root);
	h5fs_file_free(f);
	return 0;
}
