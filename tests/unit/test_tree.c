/*
 * The engine's tree (src/engine/tree.c), without a mount: a served
 * file's index made mutable, names added, moved and removed, objects
 * described from the file, and a new index of the changed file merged
 * in -- names that vanished go (the kernel is told), new ones come, the
 * node numbers of what stayed stay, and a dataset the mount made but did
 * not commit yet is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"
#include "engine/served.h"

/* /g/d (f8 [4]), /g/e (i4 [2]), /z (group), /s -> /g/d */
static const char *make_file(const char *name)
{
	const char *path = th_path("%s", name);
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t four = 4, two = 2;
	hid_t s4 = H5Screate_simple(1, &four, NULL), s2 = H5Screate_simple(1, &two, NULL);
	double v[4] = { 1, 2, 3, 4 };
	int w[2] = { 5, 6 };
	hid_t d;

	assert_true(f >= 0 && g >= 0);
	d = H5Dcreate2(g, "d", H5T_IEEE_F64LE, s4, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	d = H5Dcreate2(g, "e", H5T_STD_I32LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w);
	H5Dclose(d);
	H5Gclose(H5Gcreate2(f, "z", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Lcreate_soft("/g/d", f, "s", H5P_DEFAULT, H5P_DEFAULT);
	H5Sclose(s4);
	H5Sclose(s2);
	H5Gclose(g);
	H5Fclose(f);
	return path;
}

static struct h5fs_index_opts opts_for(const char *path)
{
	struct h5fs_index_opts o = { path, path, 0, H5FS_VIEW_RAW, 5.0, 1.0 };

	return o;
}

static unsigned int nentry_notes, ninode_notes;
static char last_gone[64];

static void note_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	(void)f;
	(void)dir;
	nentry_notes++;
	snprintf(last_gone, sizeof(last_gone), "%s", name);
}

static void note_inode(struct h5fs_served *f, struct h5fs_node *n)
{
	(void)f;
	(void)n;
	ninode_notes++;
}

static void served_open(struct h5fs_served *f, const char *path)
{
	struct h5fs_index_opts o = opts_for(path);

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = -1;
	assert_int_equal(h5fs_index_build(&f->idx, &o, NULL), 0);
	assert_int_equal(h5fs_tree_init(f), 0);
	assert_int_equal(h5fs_links_init(f), 0);
	f->inval_entry = note_entry;
	f->inval_inode = note_inode;
}

static void served_close(struct h5fs_served *f)
{
	h5fs_tree_release(f);
	h5fs_index_release(&f->idx);
}

static struct h5fs_node *at(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	const struct h5fs_entry *e = h5fs_index_find(dir, name);

	return e ? &f->idx.nodes[e->node] : NULL;
}

static void test_tree__names(void **state)
{
	struct h5fs_served f;
	struct h5fs_node *root, *g, *n, *s;

	(void)state;
	served_open(&f, make_file("names.h5"));
	root = &f.idx.nodes[0];
	g = at(&f, root, "g");
	assert_non_null(g);
	s = at(&f, root, "s");
	assert_string_equal(s->linktext, "g/d");
	/* a dataset the mount makes: sorted in, found, refused twice */
	n = h5fs_tree_new_node(&f, H5FS_NK_DATASET, g, "c");
	assert_non_null(n);
	assert_string_equal(n->path, "/g/c");
	assert_int_equal(h5fs_tree_add_entry(&f, g, "c", n), 0);
	assert_int_equal(h5fs_tree_add_entry(&f, g, "c", n), EEXIST);
	assert_int_equal(g->nchildren, 3);
	assert_string_equal(g->children[0].name, "c");
	assert_ptr_equal(at(&f, g, "c"), n);
	/* a group moved: everything below it gets the new path */
	assert_ptr_equal(h5fs_tree_del_entry(&f, root, "g"), g);
	assert_int_equal(h5fs_tree_add_entry(&f, root, "h", g), 0);
	assert_int_equal(h5fs_tree_set_path(&f, g, "/h"), 0);
	assert_string_equal(g->path, "/h");
	assert_string_equal(at(&f, g, "d")->path, "/h/d");
	assert_string_equal(at(&f, g, "c")->path, "/h/c");
	assert_null(h5fs_tree_del_entry(&f, root, "g"));
	/* names HDF5 or h5py cannot take */
	assert_int_equal(h5fs_tree_check_name(&f, "test", "ok name"), 0);
	assert_int_equal(h5fs_tree_check_name(&f, "test", ".."), EINVAL);
	assert_int_equal(h5fs_tree_check_name(&f, "test", ".h5fs-tmp.x"), EINVAL);
	assert_int_equal(h5fs_tree_check_name(&f, "test", "bad\xff"), EILSEQ);
	served_close(&f);
	th_assert_no_open_ids();
}

static void test_tree__describe(void **state)
{
	const char *path = make_file("describe.h5");
	struct h5fs_served f;
	struct h5fs_node *g, *n;
	hid_t fid, s, d;
	hsize_t three = 3;
	short v[3] = { 7, 8, 9 };

	(void)state;
	served_open(&f, path);
	g = at(&f, &f.idx.nodes[0], "g");
	/* what a commit made: described from the file */
	fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(fid >= 0);
	s = H5Screate_simple(1, &three, NULL);
	d = H5Dcreate2(fid, "/g/new", H5T_STD_I16BE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_SHORT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(s);
	n = h5fs_tree_new_node(&f, H5FS_NK_DATASET, g, "new");
	n->flags |= H5FS_NF_PENDING;
	assert_int_equal(h5fs_tree_add_entry(&f, g, "new", n), 0);
	assert_int_equal(h5fs_tree_describe(&f, fid, n), 0);
	assert_false(n->flags & H5FS_NF_PENDING);
	assert_int_equal(n->kind, H5FS_NK_DATASET);
	assert_string_equal(n->meta[H5FS_M_DTYPE], ">i2");
	assert_string_equal(n->meta[H5FS_M_SHAPE], "[3]");
	assert_int_equal(n->size, 6);
	assert_true(n->flags & H5FS_NF_CONTIG);
	H5Fclose(fid);
	served_close(&f);
	th_assert_no_open_ids();
}

static void test_tree__merge(void **state)
{
	const char *path = make_file("merge.h5");
	struct h5fs_index_opts o = opts_for(path);
	struct h5fs_served f;
	struct h5fs_index nx = { 0 };
	struct h5fs_node *root, *g, *d, *pending;
	uint32_t d_id;
	hid_t fid, s, ds;
	hsize_t one = 1;

	(void)state;
	served_open(&f, path);
	root = &f.idx.nodes[0];
	g = at(&f, root, "g");
	d = at(&f, g, "d");
	d_id = (uint32_t)(d - f.idx.nodes);
	pending = h5fs_tree_new_node(&f, H5FS_NK_DATASET, g, "p");
	pending->flags |= H5FS_NF_PENDING;
	assert_int_equal(h5fs_tree_add_entry(&f, g, "p", pending), 0);
	/* another program changes the file: /z goes, /g/added comes, /s now points at /g/e */
	fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(fid >= 0);
	assert_true(H5Ldelete(fid, "/z", H5P_DEFAULT) >= 0);
	assert_true(H5Ldelete(fid, "/s", H5P_DEFAULT) >= 0);
	assert_true(H5Lcreate_soft("/g/e", fid, "/s", H5P_DEFAULT, H5P_DEFAULT) >= 0);
	s = H5Screate_simple(1, &one, NULL);
	ds = H5Dcreate2(fid, "/g/added", H5T_STD_U8LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dclose(ds);
	H5Sclose(s);
	H5Fclose(fid);
	assert_int_equal(h5fs_index_build(&nx, &o, NULL), 0);
	nentry_notes = ninode_notes = 0;
	assert_int_equal(h5fs_tree_merge(&f, &nx), 0);
	h5fs_index_release(&nx);
	root = &f.idx.nodes[0];
	g = at(&f, root, "g");
	assert_null(at(&f, root, "z"));
	assert_non_null(at(&f, g, "added"));
	assert_ptr_equal(at(&f, g, "p"), pending);	/* not committed: kept */
	assert_int_equal((uint32_t)(at(&f, g, "d") - f.idx.nodes), d_id);	/* the same inode */
	assert_string_equal(at(&f, root, "s")->linktext, "g/e");
	assert_true(nentry_notes >= 2);		/* z gone, added new (s changed) */
	for (uint32_t i = 1; i < g->nchildren; i++)
		assert_true(strcmp(g->children[i - 1].name, g->children[i].name) < 0);
	served_close(&f);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree__names),
		cmocka_unit_test(test_tree__describe),
		cmocka_unit_test(test_tree__merge),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
