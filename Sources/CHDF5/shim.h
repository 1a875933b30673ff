#ifndef EOSTRACE_CHDF5_SHIM_H
#define EOSTRACE_CHDF5_SHIM_H
#include <hdf5.h>
#include <hdf5_hl.h>

// Function-like and comma macros that Swift cannot import, wrapped once here.
static inline hid_t eos_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t eos_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t eos_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t eos_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t eos_H5P_DATASET_ACCESS(void) { return H5P_DATASET_ACCESS; }
static inline hid_t eos_H5P_DATASET_XFER(void) { return H5P_DATASET_XFER; }
static inline hid_t eos_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t eos_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t eos_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }

static inline unsigned eos_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned eos_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned eos_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned eos_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline unsigned eos_H5F_ACC_SWMR_WRITE(void) { return H5F_ACC_SWMR_WRITE; }
static inline unsigned eos_H5F_ACC_SWMR_READ(void) { return H5F_ACC_SWMR_READ; }

static inline hid_t eos_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t eos_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t eos_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t eos_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t eos_H5T_NATIVE_INT16(void) { return H5T_NATIVE_INT16; }
static inline hid_t eos_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t eos_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t eos_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t eos_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t eos_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t eos_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t eos_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline size_t eos_H5T_VARIABLE(void) { return H5T_VARIABLE; }

static inline hsize_t eos_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline hid_t eos_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t eos_H5E_DEFAULT(void) { return H5E_DEFAULT; }

static inline H5F_libver_t eos_H5F_LIBVER_LATEST(void) { return H5F_LIBVER_LATEST; }

/// Silence HDF5's automatic error printing for the default stack.
static inline herr_t eos_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
