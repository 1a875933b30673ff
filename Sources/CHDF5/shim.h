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

static inline hid_t eos_H5T_NATIVE_FLOAT32(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t eos_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t eos_H5T_STD_I8LE(void) { return H5T_STD_I8LE; }
static inline hid_t eos_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t eos_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t eos_H5T_IEEE_F32BE(void) { return H5T_IEEE_F32BE; }
static inline hid_t eos_H5P_FILE_ACCESS_DEFAULT(void) { return H5P_FILE_ACCESS_DEFAULT; }
static inline H5F_libver_t eos_H5F_LIBVER_EARLIEST(void) { return H5F_LIBVER_EARLIEST; }
static inline H5F_libver_t eos_H5F_LIBVER_V110(void) { return H5F_LIBVER_V110; }
static inline H5F_close_degree_t eos_H5F_CLOSE_STRONG(void) { return H5F_CLOSE_STRONG; }
static inline unsigned eos_H5F_OBJ_ALL(void) { return H5F_OBJ_ALL; }

/// The library's own "clear status flags" file-access property (what `h5clear -s` sets): lets a
/// read-write open succeed on a file left marked open by a killed SWMR writer.
static inline herr_t eos_set_clear_status_flags(hid_t fapl) {
    hbool_t clear = 1;
    return H5Pset(fapl, "clear_status_flags", &clear);
}

/// Object type of an open object (group, dataset, ...), without the versioned H5Oget_info macro.
static inline int eos_object_type(hid_t obj) { return (int)H5Iget_type(obj); }
static inline int eos_H5I_GROUP(void) { return (int)H5I_GROUP; }
static inline int eos_H5I_DATASET(void) { return (int)H5I_DATASET; }

/// The file address of an open object's header (its identity within the file), or -1.
static inline herr_t eos_object_address(hid_t obj, haddr_t *addr) {
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0) return -1;
    *addr = info.addr;
    return 0;
}

/// The address a hard link points at, from the link info H5Literate passes; 0 for other links.
static inline int eos_hard_link_address(const H5L_info_t *info, haddr_t *addr) {
    if (info == NULL || info->type != H5L_TYPE_HARD) return 0;
    *addr = info->u.address;
    return 1;
}

/// Silence HDF5's automatic error printing for the default stack.
static inline herr_t eos_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Thread-safe HDF5 builds (Debian's) keep the error stack and its printing per thread:
/// silence the printing once on every thread that calls into the library.
static inline void eos_silence_errors_this_thread(void) {
    static __thread int silenced = 0;
    if (!silenced) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); silenced = 1; }
}

#endif
