#include "collabzium/io/output_file.h"

#include <cstdio>
#include <stdexcept>
#include <unistd.h>

#include "collabzium/error.h"

namespace collabzium {

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp-" + std::to_string(::getpid())) {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw InputError(locate(path_, 0, "", "cannot write the output file (does its folder exist?)"));
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::commit() {
  out_.flush();
  out_.close();
  if (out_.fail()) throw std::runtime_error(path_ + ": writing failed");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw std::runtime_error(path_ + ": rename failed");
  committed_ = true;
}

}  // namespace collabzium
