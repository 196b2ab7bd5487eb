/*
 * The file map's table: path -> entry in a chained hash table (FNV-1a,
 * grown at 3/4 load), and each entry's sorted child list.  See filemap.h.
 */
#include <stdlib.h>
#include <string.h>

#include "filemap.h"

static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static struct h5fs__map_entry **map_slot(const h5fs_filemap *map, const char *path)
{
	struct h5fs__map_entry **slot = &map->buckets[hash_path(path) % map->nbuckets];

	while (*slot && strcmp((*slot)->path, path))
		slot = &(*slot)->next;
	return slot;
}

struct h5fs__map_entry *h5fs__map_find(const h5fs_filemap *map, const char *path)
{
	return *map_slot(map, path);
}

static void entry_free(struct h5fs__map_entry *e)
{
	for (size_t i = 0; i < e->nchildren; i++)
		free(e->children[i]);
	free(e->children);
	free(e->path);
	free(e);
}

static int map_grow(h5fs_filemap *map)
{
	size_t n = map->nbuckets * 2;
	struct h5fs__map_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return h5fs__error_oom();
	for (size_t i = 0; i < map->nbuckets; i++) {
		struct h5fs__map_entry *e = map->buckets[i], *next;

		for (; e; e = next) {
			size_t k = hash_path(e->path) % n;

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(map->buckets);
	map->buckets = b;
	map->nbuckets = n;
	return 0;
}

/* The entry for @p path, created with @p kind when missing. */
int h5fs__map_put(struct h5fs__map_entry **out, h5fs_filemap *map, const char *path, h5fs_kind kind)
{
	struct h5fs__map_entry **slot = map_slot(map, path), *e = *slot;

	if (e) {
		e->kind = kind;
		*out = e;
		return 0;
	}
	if (map->count + 1 > map->nbuckets * 3 / 4) {
		int error = map_grow(map);

		if (error < 0)
			return error;
		slot = map_slot(map, path);
	}
	if (!(e = calloc(1, sizeof(*e))) || !(e->path = h5fs__strdup(path))) {
		free(e);
		return h5fs__error_oom();
	}
	e->kind = kind;
	*slot = e;
	map->count++;
	*out = e;
	return 0;
}

static void map_clear(h5fs_filemap *map)
{
	for (size_t i = 0; i < map->nbuckets; i++) {
		struct h5fs__map_entry *e = map->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			entry_free(e);
		}
		map->buckets[i] = NULL;
	}
	map->count = 0;
}

int h5fs__map_reset(h5fs_filemap *map)
{
	struct h5fs__map_entry *root;

	map_clear(map);
	return h5fs__map_put(&root, map, "/", H5FS_KIND_GROUP);
}

int h5fs__filemap_new(h5fs_filemap **out)
{
	h5fs_filemap *map = calloc(1, sizeof(*map));
	int error;

	if (!map)
		return h5fs__error_oom();
	map->nbuckets = 64;
	if (!(map->buckets = calloc(map->nbuckets, sizeof(*map->buckets)))) {
		free(map);
		return h5fs__error_oom();
	}
	if ((error = h5fs__map_reset(map)) < 0) {
		h5fs__filemap_free(map);
		return error;
	}
	*out = map;
	return 0;
}

void h5fs__filemap_free(h5fs_filemap *map)
{
	if (!map)
		return;
	map_clear(map);
	free(map->buckets);
	free(map);
}

/* Binary search in the sorted child list; *found says whether present. */
static size_t child_pos(const struct h5fs__map_entry *e, const char *name, bool *found)
{
	size_t lo = 0, hi = e->nchildren;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->children[mid], name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int h5fs__map_child_add(struct h5fs__map_entry *e, const char *name)
{
	bool found;
	size_t pos = child_pos(e, name, &found);
	char *copy;

	e->has_children = true;
	if (found)
		return 0;
	if (e->nchildren == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		char **c = realloc(e->children, cap * sizeof(*c));

		if (!c)
			return h5fs__error_oom();
		e->children = c;
		e->cap = cap;
	}
	if (!(copy = h5fs__strdup(name)))
		return H5FS_ENOMEM;
	memmove(e->children + pos + 1, e->children + pos, (e->nchildren - pos) * sizeof(char *));
	e->children[pos] = copy;
	e->nchildren++;
	return 0;
}

void h5fs__map_child_remove(struct h5fs__map_entry *e, const char *name)
{
	bool found;
	size_t pos = child_pos(e, name, &found);

	if (!found)
		return;
	free(e->children[pos]);
	memmove(e->children + pos, e->children + pos + 1, (e->nchildren - pos - 1) * sizeof(char *));
	e->nchildren--;
}

/* Remove @p path's entry and every descendant's ("/g/..." under "/g"). */
void h5fs__map_drop_tree(h5fs_filemap *map, const char *path)
{
	struct h5fs__map_entry **slot;
	size_t plen = strlen(path);

	for (size_t i = 0; i < map->nbuckets; i++) {
		slot = &map->buckets[i];
		while (*slot) {
			struct h5fs__map_entry *e = *slot;

			if (!strncmp(e->path, path, plen) &&
			    (e->path[plen] == '\0' || e->path[plen] == '/')) {
				*slot = e->next;
				entry_free(e);
				map->count--;
			} else {
				slot = &e->next;
			}
		}
	}
}
