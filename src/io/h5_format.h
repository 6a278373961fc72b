#pragma once
// What the two collabzium HDF5 formats (the results file of `run`, the inference file of `infer`)
// share on top of the generic layer h5.h: the checks made when opening one, the root attributes, and
// a failed read as one line. Each format passes its noun ("results file", "inference file") so that
// the messages stay its own.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "collabzium/error.h"
#include "collabzium/io/run_metadata.h"
#include "h5.h"

namespace collabzium::h5 {

// Opens `path` (H5F_ACC_RDONLY or H5F_ACC_RDWR) once it exists, is a regular file (a FIFO or device
// would block libhdf5 or be read as garbage) and is HDF5; InputError naming the file otherwise. The
// format's own attributes are the caller's to check.
Handle open_format_file(const std::string& path, unsigned flags, const std::string& noun);

// The root attributes `format` and `format_version` as found; InputError "not a collabzium NOUN
// (format is 'F')" when they are readable but name a format other than `expected`. What a missing or
// unreadable stamp means is the caller's to say.
struct FormatStamp {
  bool present = false;   // both attributes exist
  bool readable = false;  // and are a string and numbers
  std::string format;
  std::vector<int> version;
};
FormatStamp read_format_stamp(hid_t file, const std::string& path, const std::string& noun, const char* expected);

// The root attributes of a new file: format, format_version = [major, minor], the metadata
// (`created` now when empty) and complete = 0.
void write_root_attributes(hid_t file, const char* format, int major, int minor, const RunMetadata& meta,
                           const std::string& path);
// `bad_seed` is thrown when `seed` is not one integer: each format words that its own way.
RunMetadata read_run_metadata(hid_t file, const std::string& path, const InputError& bad_seed);

// Room kept free on the disk beyond the raw data about to be written: HDF5's metadata (chunk
// index, summary group, flushes) needs some, and a write that fails half-way can leave a file
// whose structure points past its end.
inline constexpr std::uintmax_t kSpareBytes = std::uintmax_t{1} << 20;

// DiskFull unless the file system holding `path` has `bytes` available (COLLABZIUM_TEST_FREE_BYTES,
// when set, replaces what the system reports).
void check_free_space(const std::string& path, std::uintmax_t bytes);

// A chunked dataset (incremental allocation) whose chunks are allocated as writes first reach them.
struct ChunkedDataset {
  hid_t dataset;
  hid_t mem_type;             // of `fill`
  std::size_t element_bytes;  // in the file
  const void* fill;           // one whole chunk of fill values
  std::string name;           // for messages
};

// Allocates the chunks starting at `starts` (chunk-aligned coordinates, no repeats) of every one
// of `datasets` that are not in the file yet, by writing their fill values, then flushes: the
// writes that follow change raw data only, never the file's structure, so a kill -9 before the
// next flush leaves a consistent file. DiskFull, with nothing written, when the disk cannot hold
// these chunks and kSpareBytes. `chunk` and `dims` are the datasets' (common) chunk and shape.
void allocate_chunks(hid_t file, const std::vector<ChunkedDataset>& datasets,
                     const std::vector<std::vector<hsize_t>>& starts, const std::vector<hsize_t>& chunk,
                     const std::vector<hsize_t>& dims, const std::string& path);

// Runs `read`, a read of `path`, so that every failure is an InputError (exit status 2) of one line
// naming the file: HDF5's own failures on a damaged file (std::runtime_error "PATH: HDF5: ..."), and
// anything else a damaged file can cause (absurd sizes: std::bad_alloc, std::length_error).
template <class Read>
auto reading(const std::string& path, const std::string& noun, Read read) -> decltype(read()) {
  try {
    return read();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    for (char& ch : why)
      if (ch == '\n' || ch == '\r') ch = ' ';
    throw InputError(locate(path, 0, "", "damaged or unreadable " + noun + ": " + why));
  }
}

}  // namespace collabzium::h5
