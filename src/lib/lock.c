/*
 * The process-wide HDF5 lock (see h5fs/sys/hdf5.h).
 */
#include <pthread.h>

#include "h5fs/sys/hdf5.h"

static pthread_mutex_t hdf5_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void h5fs_hdf5_lock(void)
{
	pthread_mutex_lock(&hdf5_mutex);
}

void h5fs_hdf5_unlock(void)
{
	pthread_mutex_unlock(&hdf5_mutex);
}
