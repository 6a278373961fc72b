#pragma once
// The sandbox's answers, independent of HTTP (serve/http_server.h binds them to routes): the
// starting scenario, one cohort with its detected events, a study's summary rows and the settings
// as a scenario file. Every request starts from the same resolved scenario and applies its keys as
// --set overrides, so values are checked by the scenario registry and refusals read as the command
// line's. Requests never touch the file system.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "collabzium/config/scenario.h"

namespace collabzium {

// What one request may ask for (413 beyond): a class's sliders stay far below, and the bounds keep
// one study under about a minute of one core and a cohort's memory small.
struct SandboxLimits {
  std::int64_t replications = 2000;
  std::int64_t patients = 2000;
  std::int64_t cohort_rows = 200000;  // design.patients x design.sessions.max
  std::size_t body_bytes = 64 * 1024;
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string filename;  // non-empty: offered as a download under this name
};

// Counts running studies; a request that finds them all taken is answered 429 rather than queued, so
// a class's clients never wait behind each other's stale slider positions.
class StudySlots {
 public:
  explicit StudySlots(int slots) : free_(slots) {}
  bool try_acquire();
  void release() { free_.fetch_add(1); }
  int free() const { return free_.load(); }

 private:
  std::atomic<int> free_;
};

// A study that passed validation and holds a slot until it is destroyed.
struct StudyTicket {
  ScenarioFile file;
  int threads = 1;  // OpenMP threads of this study
  std::shared_ptr<void> slot;
};

// Progress of a study: replications done of total. Returning false cancels it.
using StudyProgress = std::function<bool(std::size_t done, std::size_t total)>;

class Sandbox {
 public:
  // `start` has no sweep (checked: the sandbox studies one condition). `threads` is both the number
  // of studies that may run at once and the cores they share.
  Sandbox(const ScenarioFile& start, int threads, SandboxLimits limits = {});

  const SandboxLimits& limits() const { return limits_; }
  int threads() const { return threads_; }

  Reply scenario() const;                            // GET /api/scenario
  Reply cohort(std::string_view body) const;         // POST /api/cohort
  Reply scenario_toml(std::string_view body) const;  // POST /api/scenario.toml
  // POST /api/study in two steps, so that an HTTP layer can answer 400/413/429 before it starts a
  // streamed answer: prepare_study validates and takes a slot; study runs it (std::nullopt when the
  // progress callback cancelled it). study() is the two in one.
  std::variant<Reply, StudyTicket> prepare_study(std::string_view body);
  std::optional<Reply> run_prepared(const StudyTicket& ticket, const StudyProgress& progress = {}) const;
  Reply study(std::string_view body);

 private:
  // The scenario of a request: the start with the request's overrides; a Reply on refusal.
  std::variant<Reply, ScenarioFile> resolve(std::string_view body) const;
  std::string start_toml_;
  std::string label_;
  int threads_;
  SandboxLimits limits_;
  StudySlots slots_;
};

}  // namespace collabzium
