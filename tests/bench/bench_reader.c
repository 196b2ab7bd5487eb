/*
 * Micro-benchmark of the reader (h5fs/sys/reader.h): sequential read
 * throughput of one dataset through h5fs_reader_read(), cold (the file's
 * pages dropped with posix_fadvise first) and warm, with N threads that
 * each read one contiguous share in blocks of BLOCK bytes, the way FUSE
 * worker threads serve a sequential stream.  With -i the threads instead
 * take the next block of one sequential stream from a shared counter, as
 * FUSE workers do when the kernel's readahead sends several requests for
 * neighbouring blocks at once.
 *
 *   bench_reader [-t THREADS] [-b BLOCK] [-c CACHE_MB] [-r RUNS] [-i] FILE DATASET
 *   bench_reader -l FILE DATASET    time the chunk-address lookups
 *
 * Build and run through tests/bench/reader.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5fs.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/reader.h"

static _Atomic uint64_t next_block;
static int interleaved;

struct share {
	h5fs_reader *r;
	uint64_t from;
	uint64_t to;
	size_t block;
	uint64_t sum;
	double cpu;
	double wall;
	int error;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *reader_main(void *arg)
{
	struct share *s = arg;
	uint8_t *buf = malloc(s->block);
	uint64_t off;
	size_t nread, i;
	struct timespec c0, c1;
	double w0 = now();

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	if (!buf) {
		s->error = -1;
		return NULL;
	}
	for (off = s->from; off < s->to; off += nread) {
		size_t want;

		if (interleaved) {
			off = atomic_fetch_add(&next_block, 1) * s->block;
			if (off >= s->to)
				break;
		}
		want = s->to - off < s->block ? (size_t)(s->to - off) : s->block;

		if (h5fs_reader_read(s->r, buf, want, off, &nread) < 0 || nread == 0) {
			fprintf(stderr, "read at %llu: %s\n", (unsigned long long)off, h5fs_error_last()->message);
			s->error = -1;
			break;
		}
		/* touch the data so nothing is optimised away */
		for (i = 0; i < nread; i += 4096)
			s->sum += buf[i];
	}
	free(buf);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	s->cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	s->wall = now() - w0;
	return NULL;
}

static double run(h5fs_reader *r, int threads, size_t block)
{
	struct share *sh = calloc((size_t)threads, sizeof(*sh));
	pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
	uint64_t size = h5fs_reader_size(r), per = size / (uint64_t)threads;
	double t0, t1;
	int i, bad = 0;

	per -= per % block;
	atomic_store(&next_block, 0);
	t0 = now();
	for (i = 0; i < threads; i++) {
		sh[i].r = r;
		sh[i].from = interleaved ? 0 : per * (uint64_t)i;
		sh[i].to = interleaved || i == threads - 1 ? size : per * (uint64_t)(i + 1);
		sh[i].block = block;
		pthread_create(&tid[i], NULL, reader_main, &sh[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		bad |= sh[i].error;
	}
	t1 = now();
	if (getenv("BENCH_VERBOSE"))
		for (i = 0; i < threads; i++)
			printf("  thread %d: cpu %.3f s, wall %.3f s\n", i, sh[i].cpu, sh[i].wall);
	free(sh);
	free(tid);
	return bad ? -1 : t1 - t0;
}

static int lookups(hid_t dset)
{
	hid_t space = H5Dget_space(dset), dcpl = H5Dget_create_plist(dset);
	hsize_t dims[H5S_MAX_RANK], cdims[H5S_MAX_RANK], off[H5S_MAX_RANK] = { 0 }, n = 0, i, sz;
	haddr_t addr;
	unsigned mask;
	double t0, t1;
	int rank = H5Sget_simple_extent_dims(space, dims, NULL);

	H5Pget_chunk(dcpl, rank, cdims);
	if (rank != 1) {
		fprintf(stderr, "lookups: 1-D datasets only\n");
		return 1;
	}
	n = (dims[0] + cdims[0] - 1) / cdims[0];
	t0 = now();
	for (i = 0; i < n; i++) {
		off[0] = i * cdims[0];
		if (H5Dget_chunk_info_by_coord(dset, off, &mask, &addr, &sz) < 0)
			return 1;
	}
	t1 = now();
	printf("%llu chunks: H5Dget_chunk_info_by_coord %.2f us per chunk\n", (unsigned long long)n,
	       (t1 - t0) / (double)n * 1e6);
	t0 = now();
	for (i = 0; i < n; i++) {
		off[0] = i * cdims[0];
		if (H5Dget_chunk_storage_size(dset, off, &sz) < 0)
			return 1;
	}
	t1 = now();
	printf("%llu chunks: H5Dget_chunk_storage_size %.2f us per chunk\n", (unsigned long long)n,
	       (t1 - t0) / (double)n * 1e6);
	t0 = now();
	for (i = 0; i < n && i < 2000; i++)
		if (H5Dget_chunk_info(dset, space, i, off, &mask, &addr, &sz) < 0)
			return 1;
	t1 = now();
	printf("%llu chunks: H5Dget_chunk_info (by index, first %llu) %.2f us per chunk\n",
	       (unsigned long long)n, (unsigned long long)i, (t1 - t0) / (double)i * 1e6);
	H5Pclose(dcpl);
	H5Sclose(space);
	return 0;
}

int main(int argc, char **argv)
{
	int threads = 1, runs = 2, opt, fd, lookup = 0, i;
	size_t block = 1 << 20, cache_mb = 64;
	h5fs_chunk_cache *cache = NULL;
	h5fs_reader *r = NULL;
	h5fs_reader_stats st;
	hid_t file, dset;
	double t, mib;

	while ((opt = getopt(argc, argv, "t:b:c:r:li")) != -1) {
		switch (opt) {
		case 't': threads = atoi(optarg); break;
		case 'b': block = (size_t)strtoull(optarg, NULL, 0); break;
		case 'c': cache_mb = (size_t)strtoull(optarg, NULL, 0); break;
		case 'r': runs = atoi(optarg); break;
		case 'l': lookup = 1; break;
		case 'i': interleaved = 1; break;
		default:
			fprintf(stderr, "usage: bench_reader [-t N] [-b BLOCK] [-c CACHE_MB] [-r RUNS] [-i] [-l] FILE DATASET\n");
			return 2;
		}
	}
	if (optind + 2 != argc || threads < 1 || block == 0) {
		fprintf(stderr, "usage: bench_reader [-t N] [-b BLOCK] [-c CACHE_MB] [-r RUNS] [-i] [-l] FILE DATASET\n");
		return 2;
	}
	h5fs_init();
	if ((fd = open(argv[optind], O_RDONLY)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if ((file = H5Fopen(argv[optind], H5F_ACC_RDONLY, H5P_DEFAULT)) < 0 ||
	    (dset = H5Dopen2(file, argv[optind + 1], H5P_DEFAULT)) < 0) {
		fprintf(stderr, "cannot open %s:%s\n", argv[optind], argv[optind + 1]);
		return 1;
	}
	if (lookup)
		return lookups(dset);
	if (h5fs_chunk_cache_new(&cache, cache_mb << 20) < 0 ||
	    h5fs_reader_open(&r, dset, fd, cache) < 0) {
		fprintf(stderr, "%s\n", h5fs_error_last()->message);
		return 1;
	}
	H5Dclose(dset);
	mib = (double)h5fs_reader_size(r) / (1 << 20);
	for (i = 0; i < runs; i++) {
		/* cold: the file's pages out of the page cache, our cache empty */
		if (i == 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			h5fs_chunk_cache_clear(cache);
		}
		if ((t = run(r, threads, block)) < 0)
			return 1;
		printf("%s %s threads=%d%s block=%zu %s: %.0f MiB in %.3f s = %.0f MiB/s\n", argv[optind],
		       argv[optind + 1], threads, interleaved ? " interleaved" : "", block,
		       i == 0 ? "cold" : "warm", mib, t, mib / t);
	}
	h5fs_reader_stats_get(r, &st);
	printf("  stats: bytes_read %llu chunks_touched %llu decoded %llu hits %llu hdf5_reads %llu prefetched %llu\n",
	       (unsigned long long)st.bytes_read, (unsigned long long)st.chunks_touched,
	       (unsigned long long)st.chunks_decoded, (unsigned long long)st.cache_hits,
	       (unsigned long long)st.hdf5_reads, (unsigned long long)st.prefetched);
	h5fs_reader_free(r);
	h5fs_chunk_cache_free(cache);
	H5Fclose(file);
	close(fd);
	return 0;
}
