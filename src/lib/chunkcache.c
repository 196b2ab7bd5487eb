/*
 * The chunk cache: a hash table of decoded chunks plus a doubly linked
 * list in least-recently-used order, under one mutex.
 *
 * Chunks are reference-counted so that a reader copies out of a chunk
 * without holding the cache's mutex, and an eviction never frees a chunk
 * that another thread is still copying from: eviction only drops the
 * cache's own reference.
 *
 * Memory accounting counts each chunk's data plus its header; the cache
 * evicts from the cold end until the total fits.  A chunk larger than the
 * whole cache is never kept.
 *
 * A miss leaves a reservation (a "pending" entry in the hash table only)
 * so that concurrent requests for the same chunk wait for the first one
 * to decode it instead of decoding it again; put() or abandon() ends the
 * reservation and wakes the waiters.  A thread holds at most one
 * reservation at a time (the reader fetches one chunk at a time), so
 * waiting cannot deadlock.
 *
 * The cache also runs the mount's prefetch pool: a few worker threads
 * and a small ring of tasks under their own mutex (pool_mu; never taken
 * together with the cache's mutex).  A prefetch task holds at most one
 * reservation too, and never waits for another one (reserve() does not
 * wait), so the rule above still holds.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "chunkcache.h"

#define CACHE_MIN_BUCKETS 64
/* The pool: at most this many workers, and this many queued tasks. */
#define POOL_MAX_WORKERS 8
#define POOL_QUEUE 32

struct h5fs_chunk_cache {
	pthread_mutex_t mutex;
	pthread_cond_t ready;	/* a reservation ended */
	size_t capacity;
	size_t bytes;
	size_t entries;
	h5fs__chunk **buckets;
	size_t nbuckets;	/* a power of two */
	h5fs__chunk *head;	/* most recently used */
	h5fs__chunk *tail;	/* least recently used */

	/* the prefetch pool, under pool_mu */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_work;	/* a task queued, or stop */
	pthread_cond_t pool_done;	/* a task finished */
	h5fs__task queue[POOL_QUEUE];
	size_t qhead, qlen;
	int running;		/* tasks being run */
	int nworkers;
	int started;		/* tried to start the workers */
	int stop;
	pthread_t workers[POOL_MAX_WORKERS];
};

static size_t chunk_cost(const h5fs__chunk *c)
{
	return c->len + sizeof(*c);
}

static uint64_t key_hash(const h5fs__chunk_key *k)
{
	uint64_t h = k->dev * 0x9e3779b97f4a7c15ULL;

	h ^= k->ino + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
	h ^= k->obj + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= k->index + 0x94d049bb133111ebULL + (h << 6) + (h >> 2);
	/* splitmix64 finaliser */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static int key_equal(const h5fs__chunk_key *a, const h5fs__chunk_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->obj == b->obj &&
		a->index == b->index;
}

h5fs__chunk *h5fs__chunk_new(uint8_t *data, size_t len, unsigned int flags)
{
	h5fs__chunk *c = calloc(1, sizeof(*c));

	if (!c) {
		free(data);
		h5fs__error_oom();
		return NULL;
	}
	c->data = data;
	c->len = len;
	c->flags = flags;
	atomic_init(&c->refs, 1);
	return c;
}

void h5fs__chunk_release(h5fs__chunk *c)
{
	if (!c)
		return;
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
		free(c->data);
		free(c);
	}
}

int h5fs_chunk_cache_new(h5fs_chunk_cache **out, size_t size_bytes)
{
	h5fs_chunk_cache *cache;
	const char *what;
	int made = 0;

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	if (!(cache = calloc(1, sizeof(*cache))))
		return h5fs__error_oom();
	if (!(cache->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*cache->buckets)))) {
		free(cache);
		return h5fs__error_oom();
	}
	/* made counts what was initialised, for the way back */
	what = "mutex";
	if (pthread_mutex_init(&cache->mutex, NULL) != 0)
		goto fail;
	made++;
	what = "condition";
	if (pthread_cond_init(&cache->ready, NULL) != 0)
		goto fail;
	made++;
	what = "prefetch pool mutex";
	if (pthread_mutex_init(&cache->pool_mu, NULL) != 0)
		goto fail;
	made++;
	what = "prefetch pool condition";
	if (pthread_cond_init(&cache->pool_work, NULL) != 0)
		goto fail;
	made++;
	if (pthread_cond_init(&cache->pool_done, NULL) != 0)
		goto fail;
	cache->nbuckets = CACHE_MIN_BUCKETS;
	cache->capacity = size_bytes;
	*out = cache;
	return 0;
fail:
	if (made > 3)
		pthread_cond_destroy(&cache->pool_work);
	if (made > 2)
		pthread_mutex_destroy(&cache->pool_mu);
	if (made > 1)
		pthread_cond_destroy(&cache->ready);
	if (made > 0)
		pthread_mutex_destroy(&cache->mutex);
	free(cache->buckets);
	free(cache);
	h5fs__error_set(H5FS_ERROR_OS, "cannot create the chunk cache %s", what);
	return H5FS_ERROR;
}

static void lru_unlink(h5fs_chunk_cache *cache, h5fs__chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cache->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		cache->tail = c->prev;
	c->prev = c->next = NULL;
}

static void lru_push_front(h5fs_chunk_cache *cache, h5fs__chunk *c)
{
	c->prev = NULL;
	c->next = cache->head;
	if (cache->head)
		cache->head->prev = c;
	cache->head = c;
	if (!cache->tail)
		cache->tail = c;
}

static h5fs__chunk **hash_slot(h5fs_chunk_cache *cache, const h5fs__chunk_key *key)
{
	h5fs__chunk **pp = &cache->buckets[key_hash(key) & (cache->nbuckets - 1)];

	while (*pp && !key_equal(&(*pp)->key, key))
		pp = &(*pp)->hnext;
	return pp;
}

/* End a reservation (mutex held): drop the pending entry, wake waiters. */
static void reservation_end(h5fs_chunk_cache *cache, const h5fs__chunk_key *key)
{
	h5fs__chunk **pp = hash_slot(cache, key), *p = *pp;

	if (p && p->pending) {
		*pp = p->hnext;
		free(p);
		cache->entries--;
	}
	pthread_cond_broadcast(&cache->ready);
}

/* Take @p c out of the cache (mutex held); the cache's reference goes. */
static void cache_remove(h5fs_chunk_cache *cache, h5fs__chunk *c)
{
	h5fs__chunk **pp = &cache->buckets[key_hash(&c->key) & (cache->nbuckets - 1)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	c->hnext = NULL;
	lru_unlink(cache, c);
	c->cached = 0;
	cache->bytes -= chunk_cost(c);
	cache->entries--;
	h5fs__chunk_release(c);
}

/* Double the table when it is fuller than one chunk a bucket (best effort). */
static void cache_grow(h5fs_chunk_cache *cache)
{
	size_t n = cache->nbuckets * 2, i;
	h5fs__chunk **b;

	if (cache->entries <= cache->nbuckets || n < cache->nbuckets)
		return;
	if (!(b = calloc(n, sizeof(*b))))
		return;
	for (i = 0; i < cache->nbuckets; i++) {
		h5fs__chunk *c = cache->buckets[i], *next;

		for (; c; c = next) {
			size_t slot = key_hash(&c->key) & (n - 1);

			next = c->hnext;
			c->hnext = b[slot];
			b[slot] = c;
		}
	}
	free(cache->buckets);
	cache->buckets = b;
	cache->nbuckets = n;
}

h5fs__chunk *h5fs__chunk_cache_get(h5fs_chunk_cache *cache, const h5fs__chunk_key *key)
{
	h5fs__chunk *c, **slot;

	if (!cache)
		return NULL;
	pthread_mutex_lock(&cache->mutex);
	for (;;) {
		c = *hash_slot(cache, key);
		if (!c || !c->pending)
			break;
		/* another thread is decoding this chunk: wait for it */
		pthread_cond_wait(&cache->ready, &cache->mutex);
	}
	if (c) {
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
		lru_unlink(cache, c);
		lru_push_front(cache, c);
		pthread_mutex_unlock(&cache->mutex);
		return c;
	}
	/* reserve the key (best effort: without memory, no reservation) */
	if ((c = calloc(1, sizeof(*c)))) {
		c->key = *key;
		c->pending = 1;
		slot = &cache->buckets[key_hash(key) & (cache->nbuckets - 1)];
		c->hnext = *slot;
		*slot = c;
		cache->entries++;
	}
	pthread_mutex_unlock(&cache->mutex);
	return NULL;
}

void h5fs__chunk_cache_abandon(h5fs_chunk_cache *cache, const h5fs__chunk_key *key)
{
	if (!cache)
		return;
	pthread_mutex_lock(&cache->mutex);
	reservation_end(cache, key);
	pthread_mutex_unlock(&cache->mutex);
}

int h5fs__chunk_cache_put_if(h5fs_chunk_cache *cache, const h5fs__chunk_key *key, h5fs__chunk **cp,
			     const atomic_uint *gen, unsigned int expect)
{
	h5fs__chunk *c = *cp, *old, **slot;

	if (!cache)
		return 0;
	pthread_mutex_lock(&cache->mutex);
	reservation_end(cache, key);
	if (gen && atomic_load(gen) != expect) {
		pthread_mutex_unlock(&cache->mutex);
		return 0;
	}
	if (c->cached || chunk_cost(c) > cache->capacity) {
		pthread_mutex_unlock(&cache->mutex);
		return 1;
	}
	slot = hash_slot(cache, key);
	if ((old = *slot)) {
		/* another thread decoded the same chunk first: use its copy */
		atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
		lru_unlink(cache, old);
		lru_push_front(cache, old);
		pthread_mutex_unlock(&cache->mutex);
		h5fs__chunk_release(c);
		*cp = old;
		return 1;
	}
	slot = &cache->buckets[key_hash(key) & (cache->nbuckets - 1)];
	c->key = *key;
	c->cached = 1;
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	c->hnext = *slot;
	*slot = c;
	lru_push_front(cache, c);
	cache->bytes += chunk_cost(c);
	cache->entries++;
	while (cache->bytes > cache->capacity && cache->tail)
		cache_remove(cache, cache->tail);
	cache_grow(cache);
	pthread_mutex_unlock(&cache->mutex);
	return 1;
}

void h5fs__chunk_cache_put(h5fs_chunk_cache *cache, const h5fs__chunk_key *key, h5fs__chunk **cp)
{
	h5fs__chunk_cache_put_if(cache, key, cp, NULL, 0);
}

int h5fs__chunk_cache_reserve(h5fs_chunk_cache *cache, const h5fs__chunk_key *key)
{
	h5fs__chunk *c, **slot;
	int got = 0;

	if (!cache)
		return 0;
	pthread_mutex_lock(&cache->mutex);
	if (!*hash_slot(cache, key) && (c = calloc(1, sizeof(*c)))) {
		c->key = *key;
		c->pending = 1;
		slot = &cache->buckets[key_hash(key) & (cache->nbuckets - 1)];
		c->hnext = *slot;
		*slot = c;
		cache->entries++;
		got = 1;
	}
	pthread_mutex_unlock(&cache->mutex);
	return got;
}

void h5fs__chunk_cache_drop(h5fs_chunk_cache *cache, uint64_t dev, uint64_t ino, uint64_t obj)
{
	h5fs__chunk *c, *next;

	if (!cache)
		return;
	pthread_mutex_lock(&cache->mutex);
	for (c = cache->head; c; c = next) {
		next = c->next;
		if (c->key.dev == dev && c->key.ino == ino && c->key.obj == obj)
			cache_remove(cache, c);
	}
	pthread_mutex_unlock(&cache->mutex);
}

void h5fs_chunk_cache_clear(h5fs_chunk_cache *cache)
{
	if (!cache)
		return;
	pthread_mutex_lock(&cache->mutex);
	while (cache->tail)
		cache_remove(cache, cache->tail);
	pthread_mutex_unlock(&cache->mutex);
}

void h5fs_chunk_cache_usage(h5fs_chunk_cache *cache, size_t *bytes, size_t *entries)
{
	if (!cache) {
		if (bytes)
			*bytes = 0;
		if (entries)
			*entries = 0;
		return;
	}
	pthread_mutex_lock(&cache->mutex);
	if (bytes)
		*bytes = cache->bytes;
	if (entries)
		*entries = cache->entries;
	pthread_mutex_unlock(&cache->mutex);
}

/* ---- the prefetch pool ------------------------------------------------ */

static void *worker_main(void *arg)
{
	h5fs_chunk_cache *cache = arg;
	h5fs__task t;

	pthread_mutex_lock(&cache->pool_mu);
	for (;;) {
		while (!cache->stop && !cache->qlen)
			pthread_cond_wait(&cache->pool_work, &cache->pool_mu);
		if (cache->stop)
			break;
		t = cache->queue[cache->qhead];
		cache->qhead = (cache->qhead + 1) % POOL_QUEUE;
		cache->qlen--;
		cache->running++;
		pthread_mutex_unlock(&cache->pool_mu);
		t.run(t.owner, t.arg);
		pthread_mutex_lock(&cache->pool_mu);
		cache->running--;
		pthread_cond_broadcast(&cache->pool_done);
	}
	pthread_mutex_unlock(&cache->pool_mu);
	return NULL;
}

/* Start the workers (pool_mu held); 0 when none could be started. */
static int pool_start(h5fs_chunk_cache *cache)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t all, old;

	if (cache->started)
		return cache->nworkers > 0;
	cache->started = 1;
	if (n < 1)
		n = 1;
	if (n > POOL_MAX_WORKERS)
		n = POOL_MAX_WORKERS;
	/* workers take no signals: they belong to the caller's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (cache->nworkers < n &&
	       pthread_create(&cache->workers[cache->nworkers], NULL, worker_main, cache) == 0)
		cache->nworkers++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return cache->nworkers > 0;
}

int h5fs__chunk_cache_submit(h5fs_chunk_cache *cache, const h5fs__task *t)
{
	int queued = 0;

	if (!cache || !cache->capacity)
		return 0;
	pthread_mutex_lock(&cache->pool_mu);
	if (!cache->stop && cache->qlen < POOL_QUEUE && pool_start(cache)) {
		cache->queue[(cache->qhead + cache->qlen) % POOL_QUEUE] = *t;
		cache->qlen++;
		queued = 1;
		pthread_cond_signal(&cache->pool_work);
	}
	pthread_mutex_unlock(&cache->pool_mu);
	return queued;
}

/* Take the tasks of @p owner (NULL: all) off the queue, then cancel them. */
static void pool_cancel(h5fs_chunk_cache *cache, const void *owner)
{
	h5fs__task gone[POOL_QUEUE];
	size_t i, n = 0, kept = 0;

	pthread_mutex_lock(&cache->pool_mu);
	for (i = 0; i < cache->qlen; i++) {
		h5fs__task *t = &cache->queue[(cache->qhead + i) % POOL_QUEUE];

		if (!owner || t->owner == owner)
			gone[n++] = *t;
		else
			cache->queue[(cache->qhead + kept++) % POOL_QUEUE] = *t;
	}
	cache->qlen = kept;
	if (n)
		pthread_cond_broadcast(&cache->pool_done);
	pthread_mutex_unlock(&cache->pool_mu);
	for (i = 0; i < n; i++)
		gone[i].cancel(gone[i].owner, gone[i].arg);
}

void h5fs__chunk_cache_cancel(h5fs_chunk_cache *cache, const void *owner)
{
	if (cache && owner)
		pool_cancel(cache, owner);
}

void h5fs__chunk_cache_idle(h5fs_chunk_cache *cache)
{
	if (!cache)
		return;
	pthread_mutex_lock(&cache->pool_mu);
	while (cache->qlen || cache->running)
		pthread_cond_wait(&cache->pool_done, &cache->pool_mu);
	pthread_mutex_unlock(&cache->pool_mu);
}

size_t h5fs__chunk_cache_capacity(const h5fs_chunk_cache *cache)
{
	return cache ? cache->capacity : 0;
}

int h5fs__chunk_cache_workers(h5fs_chunk_cache *cache)
{
	int n;

	if (!cache)
		return 0;
	pthread_mutex_lock(&cache->pool_mu);
	n = cache->nworkers;
	pthread_mutex_unlock(&cache->pool_mu);
	return n;
}

void h5fs_chunk_cache_free(h5fs_chunk_cache *cache)
{
	int i;

	if (!cache)
		return;
	pthread_mutex_lock(&cache->pool_mu);
	cache->stop = 1;
	pthread_cond_broadcast(&cache->pool_work);
	pthread_mutex_unlock(&cache->pool_mu);
	for (i = 0; i < cache->nworkers; i++)
		pthread_join(cache->workers[i], NULL);
	/* readers cancel their own tasks when freed; anything left goes now */
	pool_cancel(cache, NULL);
	h5fs_chunk_cache_clear(cache);
	pthread_cond_destroy(&cache->pool_done);
	pthread_cond_destroy(&cache->pool_work);
	pthread_mutex_destroy(&cache->pool_mu);
	pthread_cond_destroy(&cache->ready);
	pthread_mutex_destroy(&cache->mutex);
	free(cache->buckets);
	free(cache);
}
