/**
 * @file h5fs/common.h
 * @brief Visibility macros, C++ guards and the library version.
 *
 * Every public header of libh5fs includes this one first.
 */
#ifndef INCLUDE_h5fs_common_h__
#define INCLUDE_h5fs_common_h__

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
# define H5FS_BEGIN_DECL extern "C" {
# define H5FS_END_DECL	}
#else
# define H5FS_BEGIN_DECL /* empty */
# define H5FS_END_DECL	/* empty */
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
# define H5FS_EXTERN(type) extern __attribute__((visibility("default"))) type
#else
# define H5FS_EXTERN(type) extern type
#endif

#define H5FS_VERSION "0.1.0"
#define H5FS_VERSION_MAJOR 0
#define H5FS_VERSION_MINOR 1
#define H5FS_VERSION_PATCH 0

H5FS_BEGIN_DECL

/**
 * Initialise the library: silence HDF5's automatic error printing (its
 * messages are captured into h5fs_error_last() instead).  Called
 * implicitly by every entry point that touches HDF5; calling it again is
 * harmless.
 *
 * @return 0 or an error code
 */
H5FS_EXTERN(int) h5fs_init(void);

H5FS_END_DECL

#endif
