#pragma once
// A small streaming JSON writer for reports: objects, arrays, numbers (NaN and infinities as null,
// 17 significant digits so values read back exactly), strings, booleans.
#include <ostream>
#include <string>
#include <vector>

namespace collabzium {

class JsonWriter {
 public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& key(const std::string& k);
  JsonWriter& value(double x);
  JsonWriter& value(long long x);
  JsonWriter& value(int x) { return value(static_cast<long long>(x)); }
  JsonWriter& value(bool b);
  JsonWriter& value(const std::string& s);
  JsonWriter& value(const char* s) { return value(std::string(s)); }
  template <class T>
  JsonWriter& field(const std::string& k, const T& v) {
    key(k);
    return value(v);
  }

 private:
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);  // the top-level value ends with a newline
  void separate();
  std::ostream& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace collabzium
