// The generic HDF5 layer; see h5.h.
#include "h5.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "collabzium/error.h"

namespace collabzium::h5 {

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string last_error() {
  struct Walk {
    std::string api, cause;
  } walk;
  // Walking downward starts at the API call and ends at the innermost cause.
  H5E_walk2_t cb = [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
    auto* w = static_cast<Walk*>(data);
    const std::string desc = err->desc ? err->desc : "";
    if (n == 0) w->api = desc;
    w->cause = desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, cb, &walk);
  H5Eclear2(H5E_DEFAULT);
  if (walk.api.empty()) return walk.cause.empty() ? "unknown HDF5 error" : walk.cause;
  if (walk.cause.empty() || walk.cause == walk.api) return walk.api;
  return walk.api + ": " + walk.cause;
}

void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": HDF5: " + what + ": " + last_error());
}

namespace {

Handle checked(hid_t id, Handle::Closer close, const std::string& path, const std::string& what) {
  if (id < 0) fail(path, what);
  return Handle(id, close);
}

// The object's full name in its file (e.g. "/summary/value"), for messages; `fallback` if unknown.
std::string object_name(hid_t id, const std::string& fallback) {
  char buf[512];
  const ssize_t n = H5Iget_name(id, buf, sizeof buf);
  if (n <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return fallback;
  }
  return std::string(buf, static_cast<std::size_t>(std::min<ssize_t>(n, sizeof buf - 1)));
}

std::string describe_dims(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return "a single value";
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? " x " : "") + std::to_string(dims[i]);
  return dims.size() == 1 ? out + " values" : "a " + out + " array";
}

std::string describe_class(H5T_class_t cls) {
  switch (cls) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floating-point numbers";
    case H5T_STRING: return "text";
    default: return "data of another HDF5 type class";
  }
}

// What T is called in messages, and whether a file type of class `cls` converts to it.
template <class T>
const char* kind_name() {
  if constexpr (std::is_same_v<T, std::string>) return "texts";
  else if constexpr (std::is_floating_point_v<T>) return "numbers";
  else return "integers";
}

template <class T>
bool accepts(H5T_class_t cls) {
  if constexpr (std::is_same_v<T, std::string>) return cls == H5T_STRING;
  else if constexpr (std::is_floating_point_v<T>) return cls == H5T_INTEGER || cls == H5T_FLOAT;
  else return cls == H5T_INTEGER;
}

template <class T>
void check_class(hid_t file_type, const std::string& path, const std::string& name) {
  const H5T_class_t cls = H5Tget_class(file_type);
  if (!accepts<T>(cls))
    throw InputError(locate(path, 0, name, std::string("expected ") + kind_name<T>() + ", got " + describe_class(cls)));
}

// Reads n strings of a dataset or attribute whose type is `file_type` (variable or fixed length);
// read(memory_type, buffer) does the HDF5 read.
template <class Read>
std::vector<std::string> read_strings(hid_t file_type, hid_t space_id, std::size_t n, Read read,
                                      const std::string& path, const std::string& name) {
  std::vector<std::string> out(n);
  if (n == 0) return out;
  const htri_t variable = H5Tis_variable_str(file_type);
  if (variable < 0) fail(path, name);
  if (variable) {
    Handle t = vlen_string_type(path);
    std::vector<char*> ptrs(n, nullptr);
    const herr_t status = read(t.get(), static_cast<void*>(ptrs.data()));
    if (status >= 0)
      for (std::size_t i = 0; i < n; ++i)
        if (ptrs[i]) out[i] = ptrs[i];
    // The strings libhdf5 allocated are freed whether or not the read succeeded: a read that fails
    // half-way (a damaged file) has allocated some of them already.
    const std::string why = status < 0 ? last_error() : "";
    H5Dvlen_reclaim(t, space_id, H5P_DEFAULT, ptrs.data());
    H5Eclear2(H5E_DEFAULT);
    if (status < 0) throw std::runtime_error(path + ": HDF5: read " + name + ": " + why);
  } else {
    const std::size_t size = H5Tget_size(file_type);
    Handle t = type(H5Tcopy(H5T_C_S1), path, "string type");
    check(H5Tset_size(t, size), path, "string type");
    check(H5Tset_strpad(t, H5T_STR_NULLPAD), path, "string type");
    std::vector<char> buf(n * size, '\0');
    check(read(t.get(), static_cast<void*>(buf.data())), path, "read " + name);
    for (std::size_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * size;
      out[i].assign(p, strnlen(p, size));
    }
  }
  return out;
}

std::size_t attribute_points(hid_t a, const std::string& path, const std::string& name) {
  Handle s = space(H5Aget_space(a), path, "attribute " + name);
  const hssize_t n = H5Sget_simple_extent_npoints(s);
  if (n < 0) fail(path, "attribute " + name);
  return static_cast<std::size_t>(n);
}

template <class T>
void write_attribute_values(hid_t loc, const std::string& name, const T* values, std::size_t n, bool scalar,
                            const std::string& path) {
  Handle s = scalar ? space(H5Screate(H5S_SCALAR), path, "dataspace") : simple_space({n}, path);
  Handle a = attribute(H5Acreate2(loc, name.c_str(), NumberType<T>::file(), s, H5P_DEFAULT, H5P_DEFAULT), path,
                       "create attribute " + name);
  check(H5Awrite(a, NumberType<T>::memory(), values), path, "write attribute " + name);
}

}  // namespace

Handle file(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Fclose, path, what); }
Handle dataset(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Dclose, path, what); }
Handle group(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Gclose, path, what); }
Handle space(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Sclose, path, what); }
Handle type(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Tclose, path, what); }
Handle plist(hid_t id, const std::string& path, const std::string& what) { return checked(id, H5Pclose, path, what); }
Handle attribute(hid_t id, const std::string& path, const std::string& what) {
  return checked(id, H5Aclose, path, what);
}

Handle vlen_string_type(const std::string& path) {
  Handle t = type(H5Tcopy(H5T_C_S1), path, "string type");
  check(H5Tset_size(t, H5T_VARIABLE), path, "string type");
  check(H5Tset_cset(t, H5T_CSET_UTF8), path, "string type");
  return t;
}

Handle simple_space(const std::vector<hsize_t>& dims, const std::string& path) {
  return space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path, "dataspace");
}

bool link_exists(hid_t loc, const std::string& name) {
  const htri_t e = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

bool attribute_exists(hid_t loc, const std::string& name) {
  const htri_t e = H5Aexists(loc, name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

std::vector<std::string> link_names(hid_t g, const std::string& path) {
  std::vector<std::string> names;
  H5L_iterate_t cb = [](hid_t, const char* name, const auto*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, cb, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    idx = 0;
    check(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names), path, "list group");
  }
  return names;
}

std::vector<hsize_t> dataset_dims(hid_t d, const std::string& path, const std::string& name) {
  Handle s = space(H5Dget_space(d), path, "dataspace of " + name);
  const int rank = H5Sget_simple_extent_ndims(s);
  if (rank < 0) fail(path, "dataspace of " + name);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  return dims;
}

Handle file_access_plist(const std::string& path) {
  Handle p = plist(H5Pcreate(H5P_FILE_ACCESS), path, "file access properties");
#if H5_VERSION_GE(1, 10, 7)
  check(H5Pset_file_locking(p, true, true), path, "file access properties");
#endif
  return p;
}

Handle track_order_gcpl(const std::string& path) {
  Handle p = plist(H5Pcreate(H5P_GROUP_CREATE), path, "group properties");
  check(H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), path, "group properties");
  return p;
}

Handle replace_group(hid_t loc, const std::string& name, const std::string& path) {
  if (link_exists(loc, name)) check(H5Ldelete(loc, name.c_str(), H5P_DEFAULT), path, "delete /" + name);
  return group(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, track_order_gcpl(path), H5P_DEFAULT), path,
               "create /" + name);
}

Handle plain_dcpl(const std::string& path) {
  Handle p = plist(H5Pcreate(H5P_DATASET_CREATE), path, "dataset properties");
  check(H5Pset_obj_track_times(p, false), path, "dataset properties");
  return p;
}

// ---------------------------------------------------------------------------------------------
// Attributes.

void write_string_attribute(hid_t loc, const std::string& name, const std::string& value, const std::string& path) {
  Handle t = vlen_string_type(path);
  Handle s = space(H5Screate(H5S_SCALAR), path, "dataspace");
  Handle a = attribute(H5Acreate2(loc, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT), path, "create attribute " + name);
  const char* p = value.c_str();
  check(H5Awrite(a, t, &p), path, "write attribute " + name);
}

template <class T>
void write_attribute(hid_t loc, const std::string& name, T value, const std::string& path) {
  write_attribute_values(loc, name, &value, 1, true, path);
}

template <class T>
void write_attribute(hid_t loc, const std::string& name, const std::vector<T>& values, const std::string& path) {
  write_attribute_values(loc, name, values.data(), values.size(), false, path);
}

template <class T>
void update_attribute(hid_t loc, const std::string& name, T value, const std::string& path) {
  Handle a = attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), path, "open attribute " + name);
  check(H5Awrite(a, NumberType<T>::memory(), &value), path, "write attribute " + name);
}

std::string read_string_attribute(hid_t loc, const std::string& name, const std::string& path) {
  Handle a = attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), path, "open attribute " + name);
  Handle t = type(H5Aget_type(a), path, "attribute " + name);
  Handle s = space(H5Aget_space(a), path, "attribute " + name);
  if (attribute_points(a, path, name) != 1) throw InputError(locate(path, 0, name, "expected a single text attribute"));
  check_class<std::string>(t, path, name);
  auto read = [&](hid_t mem, void* buf) { return H5Aread(a, mem, buf); };
  return read_strings(t, s, 1, read, path, name)[0];
}

void write_string_list_attribute(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                                 const std::string& path) {
  Handle t = vlen_string_type(path);
  Handle s = simple_space({values.size()}, path);
  Handle a = attribute(H5Acreate2(loc, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT), path, "create attribute " + name);
  std::vector<const char*> p;
  for (const auto& v : values) p.push_back(v.c_str());
  if (!p.empty()) check(H5Awrite(a, t, p.data()), path, "write attribute " + name);
}

std::vector<std::string> read_string_list_attribute(hid_t loc, const std::string& name, const std::string& path) {
  Handle a = attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), path, "open attribute " + name);
  Handle t = type(H5Aget_type(a), path, "attribute " + name);
  Handle s = space(H5Aget_space(a), path, "attribute " + name);
  check_class<std::string>(t, path, name);
  auto read = [&](hid_t mem, void* buf) { return H5Aread(a, mem, buf); };
  return read_strings(t, s, attribute_points(a, path, name), read, path, name);
}

template <class T>
std::vector<T> read_attribute(hid_t loc, const std::string& name, const std::string& path) {
  Handle a = attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), path, "open attribute " + name);
  Handle t = type(H5Aget_type(a), path, "attribute " + name);
  check_class<T>(t, path, name);
  std::vector<T> v(attribute_points(a, path, name));
  if (!v.empty()) check(H5Aread(a, NumberType<T>::memory(), v.data()), path, "read attribute " + name);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Datasets.

template <class T>
void write_dataset(hid_t loc, const std::string& name, const std::vector<T>& values, const std::string& path) {
  Handle s = simple_space({values.size()}, path);
  Handle d =
      dataset(H5Dcreate2(loc, name.c_str(), NumberType<T>::file(), s, H5P_DEFAULT, plain_dcpl(path), H5P_DEFAULT), path,
              "create dataset " + name);
  if (!values.empty())
    check(H5Dwrite(d, NumberType<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path, "write " + name);
}

void write_dataset(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                   const std::string& path) {
  Handle t = vlen_string_type(path);
  Handle s = simple_space({values.size()}, path);
  Handle d = dataset(H5Dcreate2(loc, name.c_str(), t, s, H5P_DEFAULT, plain_dcpl(path), H5P_DEFAULT), path,
                     "create dataset " + name);
  std::vector<const char*> ptrs(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) ptrs[i] = values[i].c_str();
  if (!values.empty()) check(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path, "write " + name);
}

template <class T>
std::vector<T> read_dataset(hid_t loc, const std::string& name, std::size_t n, const std::string& path) {
  Handle d = dataset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), path, "open dataset " + name);
  const std::string full = object_name(d, name);
  const auto dims = dataset_dims(d, path, full);
  if (dims.size() != 1 || dims[0] != n)
    throw InputError(
        locate(path, 0, full, "expected " + std::to_string(n) + " " + kind_name<T>() + ", got " + describe_dims(dims)));
  Handle t = type(H5Dget_type(d), path, full);
  check_class<T>(t, path, full);
  if constexpr (std::is_same_v<T, std::string>) {
    Handle s = space(H5Dget_space(d), path, full);
    auto read = [&](hid_t mem, void* buf) { return H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); };
    return read_strings(t, s, n, read, path, full);
  } else {
    std::vector<T> v(n);
    if (n) check(H5Dread(d, NumberType<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), path, "read " + full);
    return v;
  }
}

bool holds_strings(hid_t d, const std::string& path, const std::string& name) {
  Handle t = type(H5Dget_type(d), path, name);
  return H5Tget_class(t) == H5T_STRING;
}

template void write_attribute<int>(hid_t, const std::string&, int, const std::string&);
template void write_attribute<long long>(hid_t, const std::string&, long long, const std::string&);
template void write_attribute<int>(hid_t, const std::string&, const std::vector<int>&, const std::string&);
template void update_attribute<int>(hid_t, const std::string&, int, const std::string&);
template std::vector<int> read_attribute<int>(hid_t, const std::string&, const std::string&);
template std::vector<long long> read_attribute<long long>(hid_t, const std::string&, const std::string&);
template void write_dataset<double>(hid_t, const std::string&, const std::vector<double>&, const std::string&);
template void write_dataset<int>(hid_t, const std::string&, const std::vector<int>&, const std::string&);
template std::vector<double> read_dataset<double>(hid_t, const std::string&, std::size_t, const std::string&);
template std::vector<int> read_dataset<int>(hid_t, const std::string&, std::size_t, const std::string&);
template std::vector<std::string> read_dataset<std::string>(hid_t, const std::string&, std::size_t, const std::string&);
template std::vector<std::uint8_t> read_dataset<std::uint8_t>(hid_t, const std::string&, std::size_t,
                                                              const std::string&);

}  // namespace collabzium::h5
