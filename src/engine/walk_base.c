/*
 * What every step of the indexer's child uses: the watchdog's progress
 * page and skip list (and the test faults injected there), the address
 * map that finds hard links, and node records' error messages.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

/*
 * Fault injection for the tests: H5FS_INDEX_FAULT=KIND:PHASE:N makes the
 * first indexer child crash (KIND segv) or hang (KIND hang) at the N-th
 * step of PHASE (open, list, info, attr, dset, probe), as a corrupt file
 * would make libhdf5 do.  Later children run clean.
 */
static struct {
	int armed;
	int hang;
	uint32_t phase;
	unsigned long n;
} fault;

void h5fs_ix_fault_arm(const char *spec)
{
	static const char *const names[] = { "start", "open", "list", "info", "attr", "dset", "probe" };
	char kind[8], ph[8];
	unsigned long n = 1;

	if (!spec || sscanf(spec, "%7[a-z]:%7[a-z]:%lu", kind, ph, &n) < 2)
		return;
	for (uint32_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if (!strcmp(ph, names[i])) {
			fault.phase = i;
			fault.n = n ? n : 1;
			fault.hang = !strcmp(kind, "hang");
			fault.armed = 1;
		}
	}
}

void h5fs_ix_progress(struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx)
{
	wk->pg->phase = phase;
	wk->pg->addr = addr;
	wk->pg->idx = idx;
	__atomic_store_n(&wk->pg->ticks, wk->pg->ticks + 1, __ATOMIC_RELEASE);
	if (fault.armed && phase == fault.phase && --fault.n == 0) {
		if (fault.hang)
			for (;;)
				pause();
		raise(SIGSEGV);
	}
}

int h5fs_ix_skipped(const struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx)
{
	for (size_t i = 0; i < wk->nskips; i++)
		if (wk->skips[i].phase == phase && wk->skips[i].addr == addr &&
		    (wk->skips[i].idx == idx || wk->skips[i].idx == IDX_ALL))
			return 1;
	return 0;
}

static int map_grow(struct addrmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint32_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t h = (size_t)((m->keys[i] * 0x9E3779B97F4A7C15ULL) >> 17) & (ncap - 1);

		while (nk[h])
			h = (h + 1) & (ncap - 1);
		nk[h] = m->keys[i];
		nv[h] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

int h5fs_ix_map_get(const struct addrmap *m, uint64_t addr, uint32_t *out)
{
	uint64_t k = addr + 1;

	if (!m->cap)
		return 0;
	for (size_t h = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 17) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
		if (!m->keys[h])
			return 0;
		if (m->keys[h] == k) {
			*out = m->vals[h];
			return 1;
		}
	}
}

void h5fs_ix_map_put(struct addrmap *m, uint64_t addr, uint32_t id)
{
	uint64_t k = addr + 1;
	size_t h;

	if ((m->count + 1) * 2 > m->cap && map_grow(m) < 0)
		_exit(4);
	h = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 17) & (m->cap - 1);
	while (m->keys[h] && m->keys[h] != k)
		h = (h + 1) & (m->cap - 1);
	if (!m->keys[h])
		m->count++;
	m->keys[h] = k;
	m->vals[h] = id;
}

void h5fs_ix_nrec_init(struct nrec *r, uint32_t id, uint8_t kind, uint32_t parent, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->parent = parent;
	r->path = path;
	r->rc = 1;
}



void h5fs_ix_set_err(struct nrec *r, uint32_t flag, char *msg)
{
	r->flags |= flag;
	if (!r->errmsg)
		r->errmsg = msg;
	else
		free(msg);
}
