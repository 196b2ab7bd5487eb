/**
 * @file h5fs.h
 * @brief libh5fs: HDF5 files through bamboost's reference model.
 *
 * Include this for the whole public API except the MPI part
 * (h5fs/mpi.h) and the HDF5-level part (h5fs/sys/hdf5.h).
 */
#ifndef INCLUDE_h5fs_h__
#define INCLUDE_h5fs_h__

#include "h5fs/common.h"
#include "h5fs/errors.h"
#include "h5fs/path.h"
#include "h5fs/file.h"
#include "h5fs/filemap.h"
#include "h5fs/ref.h"
#include "h5fs/attr.h"
#include "h5fs/dtype.h"
#include "h5fs/npy.h"

#endif
