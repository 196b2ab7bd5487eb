/*
 * The indexer's child: opens SOURCE, walks every group, object, link and
 * attribute under the watchdog (indexer.h), and streams the records.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

/* ---- attributes ----- */

void h5fs_ix_walk_attrs(struct walker *wk, hid_t oid, struct nrec *r, uint64_t addr, hsize_t nattrs)
{
	unsigned int consecutive_errors = 0;

	for (hsize_t j = 0; j < nattrs && consecutive_errors < 16; j++) {
		hid_t aid;
		ssize_t nlen;
		char *name = NULL, *text = NULL;
		size_t len = 0;
		int err = 0, rc;

		h5fs_ix_progress(wk, P_ATTR, addr, j);
		if (h5fs_ix_skipped(wk, P_ATTR, addr, j)) {
			h5fs_ix_set_err(r, H5FS_NF_ATTR_BAD, strdup("an attribute crashed libhdf5"));
			continue;
		}
		aid = H5Aopen_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_NATIVE, j, H5P_DEFAULT, H5P_DEFAULT);
		if (aid < 0) {
			h5fs_ix_set_err(r, H5FS_NF_ATTR_BAD, h5fs_hdf5_msg("cannot open an attribute"));
			consecutive_errors++;
			continue;
		}
		consecutive_errors = 0;
		nlen = H5Aget_name(aid, 0, NULL);
		if (nlen <= 0 || nlen > 4096 || !(name = malloc((size_t)nlen + 1)) ||
		    H5Aget_name(aid, (size_t)nlen + 1, name) < 0) {
			free(name);
			H5Aclose(aid);
			h5fs_ix_set_err(r, H5FS_NF_ATTR_BAD, h5fs_hdf5_msg("cannot read an attribute name"));
			continue;
		}
		rc = h5fs_codec_format_attr(&text, &len, aid);
		if (rc < 0) {
			err = h5fs_error_errno(rc);
			if (err <= 0)
				err = EIO;
			free(text);
			text = NULL;
			len = 0;
			H5Eclear2(H5E_DEFAULT);
		} else if (len > MAX_ATTR_TEXT) {
			err = E2BIG;
			free(text);
			text = NULL;
			len = 0;
		}
		H5Aclose(aid);
		h5fs_ix_wb_u8(&wk->w, 'A');
		h5fs_ix_wb_u32(&wk->w, r->id);
		h5fs_ix_wb_str(&wk->w, name);
		h5fs_ix_wb_u32(&wk->w, (uint32_t)err);
		h5fs_ix_wb_strn(&wk->w, text ? text : "", len);
		free(name);
		free(text);
	}
}


/* ---- objects and groups ----- */

static void walk_group(struct walker *wk, hid_t gid, struct nrec *g);

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
		_exit(4);
	return p;
}

/*
 * Open the object behind link @p name of @p gid (in file @p file) and
 * index it; returns its id.  @p follow: reached through an external
 * link (@p lfile, @p lpath): an object already indexed is shared, and
 * the path is resolved without crossing further external links.
 */
static uint32_t visit_object(struct walker *wk, hid_t gid, const char *name, const char *path,
			     uint32_t parent, uint64_t gaddr, uint64_t lidx, int root, uint32_t file,
			     const char *lfile, const char *lpath)
{
	struct nrec r;
	H5O_info_t oi;
	hid_t oid, lapl = H5P_DEFAULT;
	uint32_t id;
	int save_fd = wk->fd;
	uint64_t save_size = wk->file_size;

	h5fs_ix_nrec_init(&r, 0, H5FS_NK_UNKNOWN, parent, path);
	h5fs_ix_progress(wk, P_INFO, gaddr, lidx);
	if (!root && h5fs_ix_skipped(wk, P_INFO, gaddr, lidx)) {
		r.id = id = wk->next_id++;
		h5fs_ix_set_err(&r, H5FS_NF_BAD, strdup("opening the object crashed libhdf5"));
		h5fs_ix_nrec_emit(wk, &r);
		return id;
	}
	if (lfile) {
		lapl = H5Pcreate(H5P_LINK_ACCESS);
		if (lapl < 0 || H5Pset_elink_cb(lapl, h5fs_ix_deny_elink, NULL) < 0)
			_exit(4);
	}
	oid = H5Oopen(gid, name, lapl);
	if (lfile)
		H5Pclose(lapl);
	if (oid < 0 || H5Oget_info2(oid, &oi, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0) {
		r.id = id = wk->next_id++;
		h5fs_ix_set_err(&r, H5FS_NF_BAD, h5fs_hdf5_msg("cannot open the object"));
		if (oid >= 0)
			H5Oclose(oid);
		h5fs_ix_nrec_emit(wk, &r);
		return id;
	}
	r.addr = oi.addr | ((uint64_t)file << H5FS_EXT_SHIFT);
	if (lfile && h5fs_ix_map_get(&wk->map, r.addr, &id)) {
		H5Oclose(oid);
		H5Eclear2(H5E_DEFAULT);
		return id;
	}
	r.id = id = wk->next_id++;
	r.rc = oi.rc;
	(void)lpath;
	wk->fd = wk->xf[file].fd;
	wk->file_size = wk->xf[file].size;
	h5fs_ix_map_put(&wk->map, r.addr, id);
	h5fs_ix_walk_attrs(wk, oid, &r, r.addr, oi.num_attrs);
	switch (oi.type) {
	case H5O_TYPE_GROUP:
		r.kind = H5FS_NK_GROUP;
		walk_group(wk, oid, &r);
		break;
	case H5O_TYPE_DATASET:
		r.kind = H5FS_NK_DATASET;
		h5fs_ix_dataset_meta(wk, oid, &r);
		break;
	case H5O_TYPE_NAMED_DATATYPE:
		r.kind = H5FS_NK_DATATYPE;
		if (h5fs_dtype_from_hid(&r.meta[H5FS_M_DTYPE], oid) < 0)
			H5Eclear2(H5E_DEFAULT);
		break;
	default:
		h5fs_ix_set_err(&r, H5FS_NF_BAD, strdup("unknown object type"));
		break;
	}
	wk->fd = save_fd;
	wk->file_size = save_size;
	H5Oclose(oid);
	H5Eclear2(H5E_DEFAULT);
	h5fs_ix_nrec_emit(wk, &r);
	return id;
}

struct lctx {
	struct walker *wk;
	struct nrec *g;
	uint64_t i;
};

static void emit_entry(struct walker *wk, uint32_t parent, const char *name, uint32_t child)
{
	h5fs_ix_wb_u8(&wk->w, 'E');
	h5fs_ix_wb_u32(&wk->w, parent);
	h5fs_ix_wb_str(&wk->w, name);
	h5fs_ix_wb_u32(&wk->w, child);
}

/*
 * Follow external link @p name of group @p g (in file @p gfile) to
 * @p obj in @p file: 1 with the target's node in *id, or 0 with the
 * reason in @p r's errmsg (the link stays a symlink).
 */
static int follow_link(struct walker *wk, struct nrec *g, const char *name, uint64_t i, uint32_t gfile,
		       const char *file, const char *obj, struct nrec *r, uint32_t *id)
{
	uint64_t mark = i | FOLLOW_BIT;
	uint32_t k;
	char *why = NULL;

	(void)name;
	h5fs_ix_progress(wk, P_INFO, g->addr, mark);
	if (h5fs_ix_skipped(wk, P_INFO, g->addr, mark)) {
		h5fs_ix_set_err(r, 0, strdup("not followed: following it crashed libhdf5"));
		return 0;
	}
	if (obj[0] != '/') {
		h5fs_ix_set_err(r, 0, strdup("not followed: the object path is not absolute"));
		return 0;
	}
	if (h5fs_ix_ext_resolve(wk, gfile, file, &k, &why) < 0) {
		h5fs_ix_set_err(r, 0, why ? why : strdup("not followed"));
		return 0;
	}
	/* the object must exist, reached without further external links */
	{
		hid_t lapl = H5Pcreate(H5P_LINK_ACCESS), oid;
		H5O_info_t oi;
		uint32_t old;
		int ok;

		if (lapl < 0 || H5Pset_elink_cb(lapl, h5fs_ix_deny_elink, NULL) < 0)
			_exit(4);
		oid = H5Oopen(wk->xf[k].fid, obj, lapl);
		H5Pclose(lapl);
		ok = oid >= 0 && H5Oget_info2(oid, &oi, H5O_INFO_BASIC) >= 0;
		if (oid >= 0)
			H5Oclose(oid);
		if (!ok) {
			char *m = h5fs_hdf5_msg("not followed: no such object");

			h5fs_ix_set_err(r, 0, m ? m : strdup("not followed: no such object"));
			return 0;
		}
		/* a group shown already would be a second name of a directory */
		if (oi.type == H5O_TYPE_GROUP &&
		    h5fs_ix_map_get(&wk->map, oi.addr | ((uint64_t)k << H5FS_EXT_SHIFT), &old)) {
			h5fs_ix_set_err(r, 0, strdup("not followed: the group is already in the tree"));
			return 0;
		}
	}
	*id = visit_object(wk, wk->xf[k].fid, obj, obj, g->id, g->addr, mark, 0, k, file, obj);
	return 1;
}

/* The group with node @p id when it is being listed (a cycle), else NULL. */
static const struct nrec *chain_find(const struct walker *wk, uint32_t id)
{
	for (size_t i = 0; i < wk->nchain; i++)
		if (wk->chain[i]->id == id)
			return wk->chain[i];
	return NULL;
}

static herr_t link_cb(hid_t gid, const char *name, const H5L_info_t *li, void *payload)
{
	struct lctx *c = payload;
	struct walker *wk = c->wk;
	uint64_t i = c->i++;
	uint32_t id, gfile;
	char *path;

	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
	    strlen(name) > 255) {
		char *msg = NULL;

		if (asprintf(&msg, "a link name cannot be shown: '%.64s'", name) >= 0)
			h5fs_ix_set_err(c->g, 0, msg);
		goto next;
	}
	path = path_join(c->g->path, name);
	gfile = (uint32_t)(c->g->addr >> H5FS_EXT_SHIFT);
	switch (li->type) {
	case H5L_TYPE_HARD:
		if (h5fs_ix_map_get(&wk->map, li->u.address | ((uint64_t)gfile << H5FS_EXT_SHIFT), &id)) {
			const struct nrec *anc = chain_find(wk, id);

			if (anc) {
				/*
				 * a hard link to a group being listed, an
				 * ancestor or the group itself: Linux refuses
				 * directory cycles (ELOOP), so it shows as a
				 * symlink to that group
				 */
				struct nrec r;

				h5fs_ix_nrec_init(&r, wk->next_id++, H5FS_NK_SOFTLINK, c->g->id, path);
				r.target = strdup(anc->path);
				id = r.id;
				h5fs_ix_nrec_emit(wk, &r);
			}
			emit_entry(wk, c->g->id, name, id);
			break;
		}
		id = visit_object(wk, gid, name, path, c->g->id, c->g->addr, i, 0, gfile, NULL, NULL);
		emit_entry(wk, c->g->id, name, id);
		break;
	case H5L_TYPE_SOFT:
	case H5L_TYPE_EXTERNAL: {
		struct nrec r;
		size_t vs = li->u.val_size;
		char *val;
		int followed = 0;

		h5fs_ix_nrec_init(&r, 0, li->type == H5L_TYPE_SOFT ? H5FS_NK_SOFTLINK : H5FS_NK_EXTLINK,
			  c->g->id, path);
		h5fs_ix_progress(wk, P_INFO, c->g->addr, i);
		if (h5fs_ix_skipped(wk, P_INFO, c->g->addr, i)) {
			h5fs_ix_set_err(&r, H5FS_NF_BAD, strdup("reading the link crashed libhdf5"));
		} else if (vs == 0 || vs > MAX_LINK_VALUE || !(val = calloc(1, vs + 1))) {
			h5fs_ix_set_err(&r, H5FS_NF_BAD, strdup("implausible link value size"));
		} else if (H5Lget_val(gid, name, val, vs, H5P_DEFAULT) < 0) {
			h5fs_ix_set_err(&r, H5FS_NF_BAD, h5fs_hdf5_msg("cannot read the link"));
			free(val);
		} else if (li->type == H5L_TYPE_SOFT) {
			r.target = strndup(val, vs);
			free(val);
		} else {
			const char *file = NULL, *obj = NULL;
			unsigned flags = 0;

			if (H5Lunpack_elink_val(val, vs, &flags, &file, &obj) < 0 || !file || !obj) {
				h5fs_ix_set_err(&r, H5FS_NF_BAD, h5fs_hdf5_msg("cannot decode the external link"));
			} else {
				r.meta[H5FS_M_LINKFILE] = strdup(file);
				r.meta[H5FS_M_LINKPATH] = strdup(obj);
				if (asprintf(&r.target, "%s::%s", file, obj) < 0)
					r.target = NULL;
				/* for the group's user.h5.link.NAME.file / .path */
				h5fs_ix_wb_u8(&wk->w, 'L');
				h5fs_ix_wb_u32(&wk->w, gfile);
				h5fs_ix_wb_str(&wk->w, path);
				h5fs_ix_wb_str(&wk->w, file);
				h5fs_ix_wb_str(&wk->w, obj);
				if (wk->o->follow_external)
					followed = follow_link(wk, c->g, name, i, gfile, file, obj, &r, &id);
			}
			free(val);
		}
		H5Eclear2(H5E_DEFAULT);
		if (followed) {
			free(r.errmsg);
			free(r.target);
			for (int m = 0; m < H5FS_M_COUNT; m++)
				free(r.meta[m]);
		} else {
			r.id = id = wk->next_id++;
			h5fs_ix_nrec_emit(wk, &r);
		}
		emit_entry(wk, c->g->id, name, id);
		break;
	}
	default: {
		struct nrec r;

		id = wk->next_id++;
		h5fs_ix_nrec_init(&r, id, H5FS_NK_UNKNOWN, c->g->id, path);
		h5fs_ix_set_err(&r, H5FS_NF_BAD, strdup("user-defined link type"));
		h5fs_ix_nrec_emit(wk, &r);
		emit_entry(wk, c->g->id, name, id);
		break;
	}
	}
	free(path);
next:
	h5fs_ix_progress(wk, P_LIST, c->g->addr, i + 1);
	return 0;
}

static void walk_group(struct walker *wk, hid_t gid, struct nrec *g)
{
	struct lctx c = { wk, g, 0 };
	hsize_t idx = 0;

	if (h5fs_ix_skipped(wk, P_LIST, g->addr, IDX_ALL)) {
		h5fs_ix_set_err(g, H5FS_NF_LIST_BAD, strdup("listing the group crashed libhdf5"));
		return;
	}
	h5fs_ix_progress(wk, P_LIST, g->addr, 0);
	if (wk->nchain == wk->capchain) {
		size_t nc = wk->capchain ? wk->capchain * 2 : 64;
		const struct nrec **nv = realloc(wk->chain, nc * sizeof(*nv));

		if (!nv)
			_exit(4);
		wk->chain = nv;
		wk->capchain = nc;
	}
	wk->chain[wk->nchain++] = g;
	/* a listing that fails part way keeps what it found */
	if (H5Literate(gid, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, link_cb, &c) < 0)
		h5fs_ix_set_err(g, c.i ? 0 : H5FS_NF_LIST_BAD, h5fs_hdf5_msg("cannot list the group"));
	H5Eclear2(H5E_DEFAULT);
	wk->nchain--;
}

/*
 * Open SOURCE without the OS lock (h5fs/sys/live.h), so that a program
 * opening it for writing meanwhile never fails because of us; while
 * another program holds it for writing, wait for lock_timeout seconds
 * (a re-index does not wait).  The parent checks that the file did not change while we read it.
 */
static hid_t child_open(struct walker *wk, const struct h5fs_index_opts *o, char **msg, int *code)
{
	h5fs_live_backoff bo;

	/* a re-index does not wait: the follower looks again when the writer is done */
	h5fs_live_backoff_start(&bo, wk->known ? 0 : o->lock_timeout, 0.1);
	for (;;) {
		h5fs_live_holder h;
		hid_t fid;
		int rc;

		h5fs_ix_progress(wk, P_OPEN, 0, 0);
		rc = h5fs_live_holder_get(&h, o->source_abs);
		if (rc == 0 && h.state != H5FS_LIVE_WRITER)
			rc = h5fs_live_open(&fid, o->source_abs, &h);
		else if (rc == 0)
			rc = H5FS_ELOCKED;
		if (rc == 0)
			return fid;
		if (rc != H5FS_ELOCKED) {
			*msg = strdup(h5fs_error_last()->message);
			*code = H5FS_EXIT_OPEN;
			return -1;
		}
		H5Eclear2(H5E_DEFAULT);
		if (!h5fs_live_backoff_next(&bo)) {
			*msg = strdup("the file is locked by another process");
			*code = H5FS_EXIT_LOCKED;
			return -1;
		}
	}
}

void h5fs_ix_child_main(int wfd, struct progress *pg, const struct skip *skips, size_t nskips,
		       const struct h5fs_index_opts *o, unsigned int attempt, const struct h5fs_index *known,
		       const struct h5fs_exttab *ext)
{
	static const int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS };
	struct walker wk;
	struct rlimit rl;
	struct stat st;
	char *msg = NULL;
	int code = 0;
	uint32_t id;

	/* a crash ends the child, whatever handlers the parent had (a test framework's, say) */
	for (size_t i = 0; i < sizeof(crash) / sizeof(*crash); i++)
		signal(crash[i], SIG_DFL);
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
#ifndef H5FS_ASAN
	/* AddressSanitizer reserves terabytes of address space: no limit there */
	if (getrlimit(RLIMIT_AS, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > CHILD_AS_LIMIT)) {
		rl.rlim_cur = CHILD_AS_LIMIT;
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
#ifndef H5FS_ASAN
	{
		/*
		 * What glibc or libhdf5 print as they crash on a corrupt file
		 * ("free(): invalid next size") is not for the terminal: the
		 * parent reports the crash in one line.  (Sanitizer builds
		 * keep stderr for their reports.)
		 */
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (nul >= 0) {
			dup2(nul, STDERR_FILENO);
			close(nul);
		}
	}
#endif
	if (attempt == 0)
		h5fs_ix_fault_arm(getenv("H5FS_INDEX_FAULT"));
	memset(&wk, 0, sizeof(wk));
	wk.w.fd = wfd;
	wk.w.cap = 1 << 20;
	wk.w.buf = malloc(wk.w.cap);
	if (!wk.w.buf)
		_exit(4);
	wk.pg = pg;
	wk.skips = skips;
	wk.nskips = nskips;
	if (known) {
		/* the daemon's tree, as it was at the fork */
		wk.known = known;
		for (uint32_t i = 0; i < wk.known->nnodes; i++)
			if (wk.known->nodes[i].kind == H5FS_NK_DATASET && !h5fs_ext_file_of(&wk.known->nodes[i]))
				h5fs_ix_map_put(&wk.known_map, wk.known->nodes[i].addr, i);
	}
	wk.fd = open(o->source_abs, O_RDONLY | O_CLOEXEC);
	if (wk.fd < 0 || fstat(wk.fd, &st) < 0)
		_exit(5);
	wk.file_size = (uint64_t)st.st_size;
	h5fs_init();
	wk.fid = child_open(&wk, o, &msg, &code);
	if (wk.fid < 0) {
		h5fs_ix_wb_u8(&wk.w, 'X');
		h5fs_ix_wb_u32(&wk.w, (uint32_t)code);
		h5fs_ix_wb_str(&wk.w, msg);
		h5fs_ix_wb_flush(&wk.w);
		_exit(0);
	}
	/* the root: any failure here is fatal for the mount */
	wk.o = o;
	if (h5fs_ix_xfiles_init(&wk, ext) < 0)
		_exit(4);
	if (o->follow_external) {
		char *d = h5fs_ix_dir_of(o->source_abs);

		wk.root_dir = realpath(d, NULL);
		free(d);
		if (!wk.root_dir)
			_exit(5);
	}
	id = visit_object(&wk, wk.fid, "/", "/", 0, 0, 0, 1, 0, NULL, NULL);
	(void)id;
	h5fs_ix_progress(&wk, P_DONE, 0, 0);
	h5fs_ix_wb_u8(&wk.w, 'D');
	h5fs_ix_wb_u32(&wk.w, wk.next_id);
	h5fs_ix_wb_flush(&wk.w);
	_exit(0);
}
