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
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "chunkcache.h"

#define CACHE_MIN_BUCKETS 64

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

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	if (!(cache = calloc(1, sizeof(*cache))))
		return h5fs__error_oom();
	if (!(cache->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*cache->buckets)))) {
		free(cache);
		return h5fs__error_oom();
	}
	if (pthread_mutex_init(&cache->mutex, NULL) != 0) {
		free(cache->buckets);
		free(cache);
		h5fs__error_set(H5FS_ERROR_OS, "cannot create the chunk cache mutex");
		return H5FS_ERROR;
	}
	if (pthread_cond_init(&cache->ready, NULL) != 0) {
		pthread_mutex_destroy(&cache->mutex);
		free(cache->buckets);
		free(cache);
		h5fs__error_set(H5FS_ERROR_OS, "cannot create the chunk cache condition");
		return H5FS_ERROR;
	}
	cache->nbuckets = CACHE_MIN_BUCKETS;
	cache->capacity = size_bytes;
	*out = cache;
	return 0;
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

void h5fs__chunk_cache_put(h5fs_chunk_cache *cache, const h5fs__chunk_key *key, h5fs__chunk **cp)
{
	h5fs__chunk *c = *cp, *old, **slot;

	if (!cache)
		return;
	pthread_mutex_lock(&cache->mutex);
	reservation_end(cache, key);
	if (c->cached || chunk_cost(c) > cache->capacity) {
		pthread_mutex_unlock(&cache->mutex);
		return;
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
		return;
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

void h5fs_chunk_cache_free(h5fs_chunk_cache *cache)
{
	if (!cache)
		return;
	h5fs_chunk_cache_clear(cache);
	pthread_cond_destroy(&cache->ready);
	pthread_mutex_destroy(&cache->mutex);
	free(cache->buckets);
	free(cache);
}
