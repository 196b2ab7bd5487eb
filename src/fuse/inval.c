/*
 * The kernel told to forget cached entries and inode data, from a thread
 * of its own: a notification sent from inside a request on the same
 * directory would wait for that request's lock (libfuse's
 * fuse_lowlevel_notify_inval_entry() documents the deadlock).  One
 * notifier per mount; the engine asks through the served file's
 * inval_entry / inval_inode callbacks, the ops directly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5fs_ll.h"

struct note {
	fuse_ino_t parent;	/* 0: inode note */
	fuse_ino_t ino;
	char *name;
};

struct inval {
	pthread_mutex_t qmu;
	pthread_cond_t qcond;
	pthread_cond_t drained;	/* signalled when the queue is empty and nothing is being sent */
	int sending;
	pthread_t thr;
	int started, stop;
	useconds_t delay;	/* tests: H5FS_INVAL_DELAY=SEC before each notification (a busy machine) */
	struct note *q;
	size_t nq, capq;
	uint64_t queued, sent;	/* notes ever queued; ever sent (or dropped) */
};

static void *notifier_main(void *arg)
{
	struct h5fs_ll *ll = arg;
	struct inval *t = ll->inval;

	pthread_mutex_lock(&t->qmu);
	for (;;) {
		while (!t->nq && !t->stop)
			pthread_cond_wait(&t->qcond, &t->qmu);
		/* stopping: the mount goes, and a note could wait for a directory a dead request holds */
		if (t->stop)
			break;
		{
			struct note nt = t->q[0];

			memmove(t->q, t->q + 1, (t->nq - 1) * sizeof(*t->q));
			t->nq--;
			t->sending = 1;
			pthread_mutex_unlock(&t->qmu);
			if (t->delay)
				usleep(t->delay);
			if (nt.name)
				fuse_lowlevel_notify_inval_entry(ll->se, nt.parent, nt.name, strlen(nt.name));
			else
				fuse_lowlevel_notify_inval_inode(ll->se, nt.ino, 0, 0);
			free(nt.name);
			pthread_mutex_lock(&t->qmu);
			t->sending = 0;
			t->sent++;
			pthread_cond_broadcast(&t->drained);
		}
	}
	pthread_mutex_unlock(&t->qmu);
	return NULL;
}

static void enqueue(struct h5fs_ll *ll, fuse_ino_t parent, fuse_ino_t ino, const char *name)
{
	struct inval *t = ll->inval;
	char *nm = name ? strdup(name) : NULL;

	if (!t || !ll->se || (name && !nm))
		return;
	pthread_mutex_lock(&t->qmu);
	if (!t->started && !t->stop) {
		if (pthread_create(&t->thr, NULL, notifier_main, ll) == 0)
			t->started = 1;
	}
	if (t->nq == t->capq) {
		size_t nc = t->capq ? t->capq * 2 : 32;
		struct note *nq = realloc(t->q, nc * sizeof(*nq));

		if (!nq) {
			pthread_mutex_unlock(&t->qmu);
			free(nm);
			return;
		}
		t->q = nq;
		t->capq = nc;
	}
	t->q[t->nq].parent = parent;
	t->q[t->nq].ino = ino;
	t->q[t->nq].name = nm;
	t->nq++;
	t->queued++;
	pthread_cond_signal(&t->qcond);
	pthread_mutex_unlock(&t->qmu);
}

void h5fs_tree_inval_entry(struct h5fs_ll *ll, struct h5fs_node *dir, const char *name)
{
	enqueue(ll, h5fs_ll_ino(ll, dir), 0, name);
}

void h5fs_tree_inval_inode(struct h5fs_ll *ll, struct h5fs_node *n)
{
	if (atomic_load(&n->nlookup))
		enqueue(ll, 0, h5fs_ll_ino(ll, n), NULL);
}

static void served_inval_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	h5fs_tree_inval_entry(f->mount, dir, name);
}

static void served_inval_inode(struct h5fs_served *f, struct h5fs_node *n)
{
	h5fs_tree_inval_inode(f->mount, n);
}

uint64_t h5fs_inval_queued(struct h5fs_ll *ll)
{
	struct inval *t = ll->inval;
	uint64_t n;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->qmu);
	n = t->queued;
	pthread_mutex_unlock(&t->qmu);
	return n;
}

void h5fs_inval_drain(struct h5fs_ll *ll, uint64_t upto, double max_s)
{
	struct inval *t = ll->inval;
	struct timespec until;

	if (!t)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)max_s;
	until.tv_nsec += (long)((max_s - (double)(time_t)max_s) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->qmu);
	while (t->sent < upto && t->started && !t->stop)
		if (pthread_cond_timedwait(&t->drained, &t->qmu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&t->qmu);
}

int h5fs_inval_init(struct h5fs_ll *ll)
{
	struct inval *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->qmu, NULL);
	pthread_cond_init(&t->qcond, NULL);
	pthread_cond_init(&t->drained, NULL);
	if (getenv("H5FS_INVAL_DELAY"))
		t->delay = (useconds_t)(atof(getenv("H5FS_INVAL_DELAY")) * 1e6);
	ll->inval = t;
	ll->file->inval_entry = served_inval_entry;
	ll->file->inval_inode = served_inval_inode;
	return 0;
}

void h5fs_inval_release(struct h5fs_ll *ll)
{
	struct inval *t = ll->inval;

	if (!t)
		return;
	pthread_mutex_lock(&t->qmu);
	t->stop = 1;
	pthread_cond_broadcast(&t->qcond);
	pthread_mutex_unlock(&t->qmu);
	if (t->started)
		pthread_join(t->thr, NULL);
	for (size_t i = 0; i < t->nq; i++)
		free(t->q[i].name);
	free(t->q);
	pthread_mutex_destroy(&t->qmu);
	pthread_cond_destroy(&t->qcond);
	pthread_cond_destroy(&t->drained);
	free(t);
	ll->inval = NULL;
	ll->file->inval_entry = NULL;
	ll->file->inval_inode = NULL;
}
