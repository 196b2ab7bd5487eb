/*
 * The ops table of read-write mounts: every request first shows the
 * file's changes (h5fs_follow_fresh(), engine/follow.c), then runs under
 * the served file's tree lock -- shared for the ones that only read the
 * index, exclusive for the ones that change the file or the index.
 * flush, fsync and release take it themselves (ops_write.c, here).
 */
#include <pthread.h>

#include "h5fs_ll.h"

static struct fuse_lowlevel_ops base_ops, rw_ops;

#define LL(req) ((struct h5fs_ll *)fuse_req_userdata(req))

#define SHARED(req, call) do { \
	struct h5fs_ll *ll_ = LL(req); \
	int e_ = h5fs_follow_fresh(ll_->file); \
	if (e_) { fuse_reply_err(req, e_); return; } \
	pthread_rwlock_rdlock(&ll_->file->tree); \
	call; \
	pthread_rwlock_unlock(&ll_->file->tree); \
} while (0)

#define EXCL(req, call) do { \
	struct h5fs_ll *ll_ = LL(req); \
	int e_ = h5fs_follow_fresh(ll_->file); \
	if (e_) { fuse_reply_err(req, e_); return; } \
	pthread_rwlock_wrlock(&ll_->file->tree); \
	call; \
	pthread_rwlock_unlock(&ll_->file->tree); \
} while (0)

static void w_lookup(fuse_req_t req, fuse_ino_t p, const char *name) { SHARED(req, base_ops.lookup(req, p, name)); }
static void w_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	struct h5fs_ll *ll = LL(req);

	pthread_rwlock_rdlock(&ll->file->tree);
	base_ops.forget(req, ino, n);
	pthread_rwlock_unlock(&ll->file->tree);
}
static void w_forget_multi(fuse_req_t req, size_t c, struct fuse_forget_data *f)
{
	struct h5fs_ll *ll = LL(req);

	pthread_rwlock_rdlock(&ll->file->tree);
	base_ops.forget_multi(req, c, f);
	pthread_rwlock_unlock(&ll->file->tree);
}
static void w_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { SHARED(req, base_ops.getattr(req, ino, fi)); }
static void w_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int ts, struct fuse_file_info *fi) { EXCL(req, base_ops.setattr(req, ino, a, ts, fi)); }
static void w_readlink(fuse_req_t req, fuse_ino_t ino) { SHARED(req, base_ops.readlink(req, ino)); }
static void w_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t r) { EXCL(req, base_ops.mknod(req, p, n, m, r)); }
static void w_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m) { EXCL(req, base_ops.mkdir(req, p, n, m)); }
static void w_unlink(fuse_req_t req, fuse_ino_t p, const char *n) { EXCL(req, base_ops.unlink(req, p, n)); }
static void w_rmdir(fuse_req_t req, fuse_ino_t p, const char *n) { EXCL(req, base_ops.rmdir(req, p, n)); }
static void w_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n) { EXCL(req, base_ops.symlink(req, l, p, n)); }
static void w_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn, unsigned int f) { EXCL(req, base_ops.rename(req, p, n, np, nn, f)); }
static void w_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nn) { EXCL(req, base_ops.link(req, ino, np, nn)); }
static void w_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		EXCL(req, base_ops.open(req, ino, fi));
	else
		SHARED(req, base_ops.open(req, ino, fi));
}
static void w_read(fuse_req_t req, fuse_ino_t ino, size_t s, off_t o, struct fuse_file_info *fi) { SHARED(req, base_ops.read(req, ino, s, o, fi)); }
static void w_write(fuse_req_t req, fuse_ino_t ino, const char *b, size_t s, off_t o, struct fuse_file_info *fi) { EXCL(req, base_ops.write(req, ino, b, s, o, fi)); }
static void w_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *b, off_t o, struct fuse_file_info *fi) { EXCL(req, base_ops.write_buf(req, ino, b, o, fi)); }
/* flush and fsync take the tree lock themselves (ops_write.c: the reply waits for the notifier) */
static void w_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { base_ops.flush(req, ino, fi); }
static void w_fsync(fuse_req_t req, fuse_ino_t ino, int ds, struct fuse_file_info *fi) { base_ops.fsync(req, ino, ds, fi); }
static void w_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct h5fs_ll *ll = LL(req);

	if (h5fs_write_is_writer(fi)) {
		pthread_rwlock_wrlock(&ll->file->tree);
		base_ops.release(req, ino, fi);
	} else {
		pthread_rwlock_rdlock(&ll->file->tree);
		base_ops.release(req, ino, fi);
	}
	pthread_rwlock_unlock(&ll->file->tree);
}
static void w_statfs(fuse_req_t req, fuse_ino_t ino) { SHARED(req, base_ops.statfs(req, ino)); }
static void w_setxattr(fuse_req_t req, fuse_ino_t ino, const char *n, const char *v, size_t s, int f) { EXCL(req, base_ops.setxattr(req, ino, n, v, s, f)); }
static void w_getxattr(fuse_req_t req, fuse_ino_t ino, const char *n, size_t s) { SHARED(req, base_ops.getxattr(req, ino, n, s)); }
static void w_listxattr(fuse_req_t req, fuse_ino_t ino, size_t s) { SHARED(req, base_ops.listxattr(req, ino, s)); }
static void w_removexattr(fuse_req_t req, fuse_ino_t ino, const char *n) { EXCL(req, base_ops.removexattr(req, ino, n)); }
static void w_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { SHARED(req, base_ops.opendir(req, ino, fi)); }
static void w_readdir(fuse_req_t req, fuse_ino_t ino, size_t s, off_t o, struct fuse_file_info *fi) { SHARED(req, base_ops.readdir(req, ino, s, o, fi)); }
static void w_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t s, off_t o, struct fuse_file_info *fi) { SHARED(req, base_ops.readdirplus(req, ino, s, o, fi)); }
static void w_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *fi) { EXCL(req, base_ops.create(req, p, n, m, fi)); }

const struct fuse_lowlevel_ops *h5fs_rw_ops(const struct fuse_lowlevel_ops *base)
{
	base_ops = *base;
	rw_ops = *base;
#define W(f) if (base->f) rw_ops.f = w_##f
	W(lookup); W(forget); W(forget_multi); W(getattr); W(setattr); W(readlink); W(mknod);
	W(mkdir); W(unlink); W(rmdir); W(symlink); W(rename); W(link); W(open); W(read); W(write);
	W(write_buf); W(flush); W(fsync); W(release); W(statfs); W(setxattr); W(getxattr);
	W(listxattr); W(removexattr); W(opendir); W(readdir); W(readdirplus); W(create);
#undef W
	return &rw_ops;
}
