#include "collabzium/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collabzium/error.h"

namespace collabzium {

namespace {

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// What a non-regular file is, for the message.
std::string kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::string& path, const std::string& key, const std::string& expected,
                         const std::string& got) {
  throw InputError(locate(path, 0, key, "expected " + expected + ", got " + got));
}

void check_stat(const struct stat& st, const std::string& path, const std::string& key, const std::string& expected) {
  if (!S_ISREG(st.st_mode)) refuse(path, key, expected, kind_of(st));
}

}  // namespace

void check_regular_input(const std::string& path, const std::string& key, const std::string& expected) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse(path, key, expected, lower_first(std::strerror(errno)));
  check_stat(st, path, key, expected);
}

std::string read_input_file(const std::string& path, const std::string& key, const std::string& expected,
                            std::size_t max_bytes) {
  check_regular_input(path, key, expected);
  // O_NONBLOCK: should the path turn into a FIFO between the check and the open, open does not
  // wait for a writer; fstat below refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) refuse(path, key, expected, lower_first(std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) refuse(path, key, expected, lower_first(std::strerror(errno)));
  check_stat(st, path, key, expected);
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > max_bytes)
    refuse(path, key, expected + " of at most " + std::to_string(max_bytes) + " bytes",
           std::to_string(size) + " bytes");
  std::string text(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, text.data() + got, size - got);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) refuse(path, key, expected, "a read error: " + lower_first(std::strerror(errno)));
    if (n == 0) break;  // the file shrank while being read
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace collabzium
