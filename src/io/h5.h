#pragma once
// The generic HDF5 layer under the results file (private to src/io and its tests): RAII handles,
// HDF5 failures as exceptions, and typed attribute and dataset I/O. It knows nothing of the results
// format, which results_file.cpp builds on top.
//
// Errors: HDF5 failures are std::runtime_error("PATH: HDF5: WHAT: HDF5's description"); data of the
// wrong type or shape in a file is InputError("PATH: NAME: expected ..., got ...") on one line.
// `path` arguments only name the file in messages.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace collabzium::h5 {

// HDF5 prints its error stack on stderr unless told not to; we report failures as exceptions.
void silence_errors();
// HDF5's description of the failure just reported (the API call's message and its innermost
// cause), then clears HDF5's error stack.
std::string last_error();
[[noreturn]] void fail(const std::string& path, const std::string& what);
inline void check(herr_t status, const std::string& path, const std::string& what) {
  if (status < 0) fail(path, what);
}

// Owns one HDF5 id and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Each takes a freshly created or opened id, throwing (with `path` and `what`) when that failed.
Handle file(hid_t id, const std::string& path, const std::string& what);
Handle dataset(hid_t id, const std::string& path, const std::string& what);
Handle group(hid_t id, const std::string& path, const std::string& what);
Handle space(hid_t id, const std::string& path, const std::string& what);
Handle type(hid_t id, const std::string& path, const std::string& what);
Handle plist(hid_t id, const std::string& path, const std::string& what);
Handle attribute(hid_t id, const std::string& path, const std::string& what);

// A variable-length UTF-8 string type; a simple dataspace of the given dimensions.
Handle vlen_string_type(const std::string& path);
Handle simple_space(const std::vector<hsize_t>& dims, const std::string& path);

bool link_exists(hid_t loc, const std::string& name);
bool attribute_exists(hid_t loc, const std::string& name);
// Names of a group's links, in creation order when the group tracks it, else by name.
std::vector<std::string> link_names(hid_t group, const std::string& path);
std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& path, const std::string& name);

// Property lists: file access locking the file where the file system supports it; groups that track
// creation order; datasets without modification times (identical runs give identical files).
Handle file_access_plist(const std::string& path);
Handle track_order_gcpl(const std::string& path);
Handle plain_dcpl(const std::string& path);

// A group that is rewritten whole: `name` of `loc` deleted when it exists, then created anew with
// tracked creation order.
Handle replace_group(hid_t loc, const std::string& name, const std::string& path);

// The HDF5 types of the numbers the layer reads and writes: the file type is little-endian and
// fixed-size, the memory type native.
template <class T>
struct NumberType;
template <>
struct NumberType<double> {
  static hid_t file() { return H5T_IEEE_F64LE; }
  static hid_t memory() { return H5T_NATIVE_DOUBLE; }
};
template <>
struct NumberType<int> {
  static hid_t file() { return H5T_STD_I32LE; }
  static hid_t memory() { return H5T_NATIVE_INT; }
};
template <>
struct NumberType<long long> {
  static hid_t file() { return H5T_STD_I64LE; }
  static hid_t memory() { return H5T_NATIVE_LLONG; }
};
template <>
struct NumberType<std::uint8_t> {
  static hid_t file() { return H5T_STD_U8LE; }
  static hid_t memory() { return H5T_NATIVE_UINT8; }
};

// ---------------------------------------------------------------------------------------------
// Attributes (on a file, group or dataset `loc`).

void write_string_attribute(hid_t loc, const std::string& name, const std::string& value, const std::string& path);
// A scalar attribute, or a one-dimensional one for a vector.
template <class T>
void write_attribute(hid_t loc, const std::string& name, T value, const std::string& path);
template <class T>
void write_attribute(hid_t loc, const std::string& name, const std::vector<T>& values, const std::string& path);
// Overwrites an existing numeric attribute's single value.
template <class T>
void update_attribute(hid_t loc, const std::string& name, T value, const std::string& path);

// A one-dimensional attribute of variable-length UTF-8 strings, and its reading (any string type).
void write_string_list_attribute(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                                 const std::string& path);
std::vector<std::string> read_string_list_attribute(hid_t loc, const std::string& name, const std::string& path);

// InputError unless the attribute is a single string (fixed or variable length).
std::string read_string_attribute(hid_t loc, const std::string& name, const std::string& path);
// All values of a numeric attribute converted to T; InputError unless it holds numbers (integer or
// floating point; for an integer T, integers only).
template <class T>
std::vector<T> read_attribute(hid_t loc, const std::string& name, const std::string& path);

// ---------------------------------------------------------------------------------------------
// One-dimensional datasets of numbers (double, int) or strings (variable-length UTF-8 on write;
// fixed or variable length on read).

template <class T>
void write_dataset(hid_t loc, const std::string& name, const std::vector<T>& values, const std::string& path);
void write_dataset(hid_t loc, const std::string& name, const std::vector<std::string>& values, const std::string& path);

// Reads dataset `name` of `loc`, which must be one-dimensional with exactly n values of T's kind;
// InputError("PATH: NAME: expected n numbers/texts, got ...") otherwise.
template <class T>
std::vector<T> read_dataset(hid_t loc, const std::string& name, std::size_t n, const std::string& path);

// Whether an open dataset holds strings.
bool holds_strings(hid_t dataset, const std::string& path, const std::string& name);

}  // namespace collabzium::h5
