#include "collabzium/serve/request.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "collabzium/error.h"

namespace collabzium {

namespace {

// A recursive-descent reader of the one JSON shape the sandbox takes. It never builds a DOM: each
// value is turned into its TOML text as it is read.
class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  std::vector<std::string> object() {
    std::vector<std::string> out, keys;
    space();
    expect('{', "an object of KEY: VALUE");
    space();
    if (peek() == '}') {
      ++i_;
      end();
      return out;
    }
    for (;;) {
      space();
      if (peek() != '"') fail("a key in double quotes");
      std::string key = string();
      space();
      expect(':', "':' after the key");
      space();
      std::string value = scalar_or_list(key);
      check_key(key, keys);
      keys.push_back(key);
      if (key == "seed") key = "run.seed";
      else if (key == "replications") key = "run.replications";
      out.push_back(key + "=" + value);
      space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}', "',' or '}'");
      break;
    }
    end();
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& expected) const {
    const std::string got = i_ < s_.size() ? "'" + printable(s_[i_]) + "'" : "the end";
    throw InputError("request: invalid JSON at byte " + std::to_string(i_ + 1) + ": expected " + expected + ", got " +
                     got);
  }
  static std::string printable(char c) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    return buf;
  }
  // A key the registry would read as something else: '=' splits KEY=VALUE, and a sweep axis would
  // turn one request into many conditions.
  static void check_key(const std::string& key, const std::vector<std::string>& seen) {
    if (key.empty() || key.find_first_of("=\n\r") != std::string::npos)
      throw InputError("--set: " + key + ": unknown key");
    if (key.rfind("sweep.", 0) == 0 || key == "sweep")
      throw InputError("--set: " + key + ": the sandbox studies one condition (no sweep); sweeps are for run");
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) throw InputError("request: " + key + ": given twice");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c || i_ >= s_.size()) fail(what);
    ++i_;
  }
  void end() {
    space();
    if (i_ != s_.size()) fail("the end of the body");
  }

  std::string scalar_or_list(const std::string& key) {
    if (peek() != '[') return scalar(key);
    ++i_;
    std::string out = "[";
    space();
    if (peek() == ']') {
      ++i_;
      return "[]";
    }
    for (bool first = true;; first = false) {
      space();
      if (peek() == '[' || peek() == '{') fail("a number, string or boolean in the list");
      out += (first ? "" : ", ") + scalar(key);
      space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(']', "',' or ']'");
      return out + "]";
    }
  }

  std::string scalar(const std::string& key) {
    const char c = peek();
    if (c == '"') return toml_string(string());
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (const std::string_view word : {"true", "false"})
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return std::string(word);
      }
    if (s_.substr(i_, 4) == "null")
      throw InputError("--set: " + key + ": expected a number, string, boolean or list, got null");
    if (c == '{') throw InputError("--set: " + key + ": expected a number, string, boolean or list, got an object");
    fail("a value");
  }

  // JSON's number grammar; the text is also a TOML number (TOML is stricter only about leading
  // zeros, which JSON forbids as well).
  std::string number() {
    const std::size_t start = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0') ++i_;
    else if (!digits()) fail("a digit");
    if (peek() == '.') {
      ++i_;
      if (!digits()) fail("a digit after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digits()) fail("a digit in the exponent");
    }
    return std::string(s_.substr(start, i_ - start));
  }
  bool digits() {
    const std::size_t start = i_;
    while (peek() >= '0' && peek() <= '9' && i_ < s_.size()) ++i_;
    return i_ > start;
  }

  // A JSON string, decoded to UTF-8.
  std::string string() {
    expect('"', "'\"'");
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("the closing '\"'");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --i_;
        fail("no control character in a string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = peek();
      ++i_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, code_point()); break;
        default: --i_, fail("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
  }
  std::uint32_t hex4() {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = peek();
      int d;
      if (h >= '0' && h <= '9') d = h - '0';
      else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
      else fail("a hex digit");
      v = v * 16 + static_cast<std::uint32_t>(d);
      ++i_;
    }
    return v;
  }
  std::uint32_t code_point() {
    const std::uint32_t hi = hex4();
    if (hi >= 0xDC00 && hi <= 0xDFFF) fail("a code point (not a lone low surrogate)");
    if (hi < 0xD800 || hi > 0xDBFF) return hi;
    if (s_.substr(i_, 2) != "\\u") fail("the low surrogate of a pair");
    i_ += 2;
    const std::uint32_t lo = hex4();
    if (lo < 0xDC00 || lo > 0xDFFF) fail("a low surrogate");
    return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // A TOML basic string: TOML has no "\/" and wants control characters escaped.
  static std::string toml_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (u < 0x20 || u == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
        out += buf;
      } else out += c;
    }
    return out + "\"";
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::vector<std::string> request_overrides(std::string_view json) { return Reader(json).object(); }

}  // namespace collabzium
