#!/bin/sh
# Reader micro-benchmark: sequential throughput of 1 GiB datasets
# (contiguous float64, chunked with 1 MiB chunks, gzip-1 chunked) through
# h5fs_reader_read() with 1 and 2 threads, cold and warm, against h5py's
# f['d'][()].  Files live in a scratch folder under /tmp (about 3.5 GiB)
# and are removed at the end.
#
#   sh tests/bench/reader.sh [SIZE_MIB]      (run from the top folder)
#
# Cold runs drop the file's pages with posix_fadvise(DONTNEED) first.
set -e
size_mib=${1:-1024}
build=${BUILD:-build}
py=${PYTHON:-/usr/bin/python3}
make -s "$build/lib/libh5fs.a"
mkdir -p "$build/bench"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Iinclude \
	$(pkg-config --cflags hdf5-openmpi) -o "$build/bench/bench_reader" \
	tests/bench/bench_reader.c "$build/lib/libh5fs.a" \
	$(pkg-config --libs hdf5-openmpi) -lhdf5_hl -lz -lm -lpthread
dir=$(mktemp -d /tmp/h5fs-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM

"$py" - "$dir" "$size_mib" <<'EOF'
import sys, h5py, numpy as np
d, mib = sys.argv[1], int(sys.argv[2])
n = mib * 1024 * 1024 // 8
step = 16 * 1024 * 1024
for name, kw in (('contig', {}), ('chunked', {'chunks': (131072,)}),
                 ('gzip', {'chunks': (131072,), 'compression': 'gzip', 'compression_opts': 1})):
    with h5py.File(f'{d}/{name}.h5', 'w') as f:
        ds = f.create_dataset('d', shape=(n,), dtype='<f8', **kw)
        for s in range(0, n, step):
            e = min(n, s + step)
            # smooth data with some noise: compresses, but not to nothing
            x = np.arange(s, e, dtype='<f8')
            ds[s:e] = np.round(np.sin(x * 1e-4) * 1000, 2)
EOF
ls -l "$dir"
for name in contig chunked gzip; do
	for t in 1 2; do
		"$build/bench/bench_reader" -t "$t" -r 3 "$dir/$name.h5" /d
	done
	# one stream served by 2 threads in 128 KiB requests (FUSE readahead)
	"$build/bench/bench_reader" -t 2 -i -b 131072 -r 3 "$dir/$name.h5" /d
	"$py" - "$dir/$name.h5" <<'EOF'
import sys, os, time, h5py
p = sys.argv[1]
for run in ('cold', 'warm'):
    if run == 'cold':
        fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
    t0 = time.monotonic()
    with h5py.File(p, 'r') as f:
        a = f['d'][()]
    t = time.monotonic() - t0
    mib = a.nbytes / 2**20
    print(f"{p} h5py f['d'][()] {run}: {mib:.0f} MiB in {t:.3f} s = {mib / t:.0f} MiB/s")
    del a
EOF
done
"$py" - "$dir" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1] + '/many.h5', 'w') as f:
    f.create_dataset('d', data=np.zeros(1 << 22, '<f8'), chunks=(128,))
EOF
"$build/bench/bench_reader" -l "$dir/many.h5" /d
"$build/bench/bench_reader" -t 1 -r 2 "$dir/many.h5" /d
