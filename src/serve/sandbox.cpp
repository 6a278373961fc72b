#include "collabzium/serve/sandbox.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <unordered_map>

#include "collabzium/analysis/analysis.h"
#include "collabzium/detection/detection_measures.h"
#include "collabzium/error.h"
#include "collabzium/io/json.h"
#include "collabzium/model/simulator.h"
#include "collabzium/serve/request.h"
#include "collabzium/study/batch_driver.h"
#include "collabzium/study/infer.h"
#include "collabzium/study/record.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/summary.h"

namespace collabzium {

namespace {

// JsonWriter indents for people; over HTTP the whitespace between tokens is dropped. Strings never
// hold a raw line break (the writer escapes it), so a line break always starts indentation.
std::string compact(const std::string& pretty) {
  std::string out;
  out.reserve(pretty.size());
  for (std::size_t i = 0; i < pretty.size(); ++i) {
    if (pretty[i] == '\n') {
      while (i + 1 < pretty.size() && pretty[i + 1] == ' ') ++i;
      continue;
    }
    out += pretty[i];
  }
  return out;
}

Reply json_reply(int status, const std::string& pretty) {
  return Reply{status, "application/json", compact(pretty), {}};
}

Reply error_reply(int status, const std::string& message) {
  std::ostringstream os;
  JsonWriter(os).begin_object().field("error", message).end_object();
  return json_reply(status, os.str());
}

void write_value(JsonWriter& w, const KeyValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) w.value(x);
        else if constexpr (std::is_same_v<T, std::int64_t>) w.value(static_cast<long long>(x));
        else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::string>) w.value(x);
        else {
          w.begin_array();
          for (const auto& e : x) w.value(e);
          w.end_array();
        }
      },
      v);
}

// The rater's detection object of the report JSON (detection/detection_measures.h), truth included.
void write_accuracy(JsonWriter& w, const DetectionScore& d) {
  w.begin_object();
  for (const DetectionMeasure& m : kDetectionMeasures)
    if (m.in_detection_object()) w.field(std::string(m.measure), m.value(d));
  w.end_object();
}

template <class T>
void write_series(JsonWriter& w, const std::string& key, const std::vector<T>& v, std::size_t from, std::size_t to) {
  w.key(key).begin_array();
  for (std::size_t k = from; k < to; ++k) {
    if constexpr (std::is_same_v<T, double>) w.value(v[k]);
    else w.value(static_cast<int>(v[k]));
  }
  w.end_array();
}

// The example patients of figures/trajectories.png (experiments/plots/plot_trajectories.py), in
// the same order and by the same rules, so the page and the figure tell the same story: a true
// rupture both raters detected and that was repaired; one the patient missed and the therapist
// found; a detected rupture without a true one. Patients with at least 12 sessions come first.
std::vector<std::pair<std::size_t, std::string>> example_patients(const Cohort& c, const CohortAnalysis& a) {
  const auto& pe = a.events[index_of(RaterId::Patient)].rupture;
  const auto& te = a.events[index_of(RaterId::Therapist)].rupture;
  auto any = [&](std::size_t i, auto pred) {
    for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k)
      if (pred(k)) return true;
    return false;
  };
  const std::vector<std::pair<std::string, std::function<bool(std::size_t)>>> rules = {
      {"a true rupture both raters detected, later repaired",
       [&](std::size_t i) {
         return any(i, [&](std::size_t k) { return c.true_onset[k] && pe[k] && te[k]; }) &&
                any(i, [&](std::size_t k) { return c.true_repair[k] != 0; });
       }},
      {"a true rupture the patient missed and the therapist detected",
       [&](std::size_t i) {
         return any(i, [&](std::size_t k) { return c.true_onset[k] && !pe[k]; }) &&
                any(i, [&](std::size_t k) { return c.true_onset[k] && te[k]; });
       }},
      {"a detected rupture without a true one",
       [&](std::size_t i) {
         return !any(i, [&](std::size_t k) { return c.true_onset[k] != 0; }) &&
                any(i, [&](std::size_t k) { return pe[k] || te[k]; });
       }},
  };
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < c.patients(); ++i)
    if (c.offset[i + 1] - c.offset[i] >= 12) order.push_back(i);
  const std::size_t long_enough = order.size();
  for (std::size_t i = 0; i < c.patients(); ++i) order.push_back(i);
  std::vector<std::pair<std::size_t, std::string>> picks;
  auto picked = [&](std::size_t i) {
    return std::any_of(picks.begin(), picks.end(), [&](const auto& p) { return p.first == i; });
  };
  for (const auto& [why, rule] : rules)
    for (std::size_t n = 0; n < long_enough; ++n)
      if (!picked(order[n]) && rule(order[n])) {
        picks.emplace_back(order[n], why);
        break;
      }
  for (std::size_t n = 0; n < order.size() && picks.size() < 3; ++n)
    if (!picked(order[n])) picks.emplace_back(order[n], "");
  return picks;
}

// The published pattern (experiments/plots/seed_report.py): patient ruptures significant and
// positive, therapist ruptures not significant, patient and therapist repairs significant and
// negative, all in the lagged model; counted over replications where all four p-values exist.
// Each finding is tested as infer tests its [infer.observed] findings (study/infer.h, meets).
struct Pattern {
  std::size_t hits = 0, n = 0;
};

Pattern published_pattern(const std::vector<std::string>& columns, const double* rows, std::size_t R, double alpha) {
  std::unordered_map<std::string, std::size_t> at;
  for (std::size_t k = 0; k < columns.size(); ++k) at[columns[k]] = k;
  auto observed = [](const char* name, Finding finding) {
    Observed o;
    o.name = name;
    o.finding = finding;
    return o;
  };
  const Observed findings[] = {
      observed("lagged.patient.rupture", Finding::Positive), observed("lagged.therapist.rupture", Finding::Null),
      observed("lagged.patient.repair", Finding::Negative), observed("lagged.therapist.repair", Finding::Negative)};
  std::size_t est[4], p[4];
  for (int j = 0; j < 4; ++j) {
    const auto e = at.find(findings[j].name + ".estimate"), q = at.find(findings[j].name + ".p");
    if (e == at.end() || q == at.end()) return {};
    est[j] = e->second;
    p[j] = q->second;
  }
  const std::size_t width = columns.size();
  Pattern out;
  for (std::size_t r = 0; r < R; ++r) {
    const double* row = rows + r * width;
    bool finite = true;
    for (int j = 0; j < 4; ++j) finite = finite && std::isfinite(row[p[j]]) && std::isfinite(row[est[j]]);
    if (!finite) continue;
    ++out.n;
    bool hit = true;
    for (int j = 0; j < 4; ++j) {
      const double quantities[2] = {row[est[j]], row[p[j]]};
      hit = hit && meets(findings[j], quantities, alpha);
    }
    out.hits += hit;
  }
  return out;
}

}  // namespace

bool StudySlots::try_acquire() {
  int n = free_.load();
  while (n > 0)
    if (free_.compare_exchange_weak(n, n - 1)) return true;
  return false;
}

Sandbox::Sandbox(const ScenarioFile& start, int threads, SandboxLimits limits)
    : start_toml_(to_toml(start)),
      // Requests reparse the resolved text: a `base` chain was merged once, at start, so no request
      // reads a file.
      label_(start.path),
      threads_(std::max(1, threads)),
      limits_(limits),
      slots_(std::max(1, threads)) {
  require_one_condition(start, "serve");
}

std::variant<Reply, ScenarioFile> Sandbox::resolve(std::string_view body) const {
  if (body.size() > limits_.body_bytes)
    return error_reply(413, "request: the body must be at most " + std::to_string(limits_.body_bytes) + " bytes, got " +
                                std::to_string(body.size()));
  ScenarioFile file;
  try {
    file = parse_scenario(start_toml_, label_, request_overrides(body.empty() ? std::string_view("{}") : body));
  } catch (const InputError& e) {
    return error_reply(400, e.what());
  }
  const Scenario& s = file.base;
  auto over = [&](const std::string& key, std::int64_t limit, std::int64_t got, const std::string& what = "") {
    return error_reply(413, key + ": " + (what.empty() ? "" : what + " ") + "must be at most " + std::to_string(limit) +
                                " in the sandbox (use the command line for more), got " + std::to_string(got));
  };
  if (s.run.replications > limits_.replications)
    return over("run.replications", limits_.replications, s.run.replications);
  if (s.design.patients > limits_.patients) return over("design.patients", limits_.patients, s.design.patients);
  if (s.design.patients * s.design.sessions.max > limits_.cohort_rows)
    return over("design.patients", limits_.cohort_rows, s.design.patients * s.design.sessions.max,
                "x design.sessions.max (the most rows of a cohort)");
  if (s.analysis.has_model(ModelKind::Dsem))
    return error_reply(413,
                       "analysis.models: \"dsem\" (about 0.3 s per replication) is not offered in the sandbox; "
                       "use the command line");
  return file;
}

Reply Sandbox::scenario() const {
  const ScenarioFile file = parse_scenario(start_toml_, label_);
  std::ostringstream os;
  JsonWriter w(os);
  w.begin_object().field("name", file.base.name).field("description", file.base.description);
  w.key("keys").begin_object();
  for (const auto& key : scenario_keys()) {
    w.key(key);
    write_value(w, get_key(file.base, key));
  }
  w.end_object();
  // The admissible values of every choice key, from the enums' names (config/choices.h): the page
  // offers these and no list of its own.
  w.key("choices").begin_object();
  for (const auto& key : scenario_keys()) {
    const std::vector<std::string> choices = key_choices(key);
    if (choices.empty()) continue;
    w.key(key).begin_array();
    for (const auto& c : choices) w.value(c);
    w.end_array();
  }
  w.end_object();
  w.key("rule_defaults").begin_object();
  for (std::size_t r = 0; r < choice_names(DetectionRule{}).size(); ++r)
    w.field(std::string(choice_names(DetectionRule{})[r]), default_threshold(static_cast<DetectionRule>(r)));
  w.end_object();
  w.key("limits")
      .begin_object()
      .field("replications", static_cast<long long>(limits_.replications))
      .field("patients", static_cast<long long>(limits_.patients))
      .field("cohort_rows", static_cast<long long>(limits_.cohort_rows))
      .field("body_bytes", static_cast<long long>(limits_.body_bytes))
      .field("studies", threads_)
      .end_object();
  w.end_object();
  return json_reply(200, os.str());
}

Reply Sandbox::cohort(std::string_view body) const {
  auto resolved = resolve(body);
  if (auto* r = std::get_if<Reply>(&resolved)) return *r;
  Scenario s = std::get<ScenarioFile>(resolved).base;
  // Only detection is needed; the models would cost ten times the simulation.
  s.analysis.models.clear();
  const auto seed = static_cast<std::uint64_t>(s.run.seed);
  Cohort c;
  CohortAnalysis a;
  try {
    // Replication 1 of condition 1: the cohort `simulate --seed` writes.
    simulate_cohort(s, seed, 1, 1, c);
    a = analyze_cohort(c, s, ReplicationId{seed, 1, 1});
  } catch (const InputError& e) {
    return error_reply(400, e.what());
  }
  std::ostringstream os;
  JsonWriter w(os);
  w.begin_object()
      .field("seed", static_cast<long long>(s.run.seed))
      .field("patients", static_cast<long long>(c.patients()))
      .field("sessions", static_cast<long long>(c.rows()))
      .field("threshold", s.detection.threshold());
  w.key("detection").begin_object();
  for (const RaterId r : {RaterId::Patient, RaterId::Therapist}) {
    w.key(std::string(name(r)));
    write_accuracy(w, a.detection[index_of(r)]);
  }
  w.field("kappa", a.kappa).end_object();
  w.key("examples").begin_array();
  for (const auto& [i, why] : example_patients(c, a)) {
    const std::size_t from = c.offset[i], to = c.offset[i + 1];
    w.begin_object()
        .field("patient", c.patient_label(i))
        .field("therapist", c.therapist[i] + 1)
        .field("why", why)
        .field("dropout", to > from && c.dropout[to - 1] != 0);
    write_series(w, "session", c.session, from, to);
    write_series(w, "true_alliance", c.true_alliance, from, to);
    write_series(w, "alliance_patient", c.alliance_patient, from, to);
    write_series(w, "alliance_therapist", c.alliance_therapist, from, to);
    write_series(w, "distress", c.distress, from, to);
    write_series(w, "true_onset", c.true_onset, from, to);
    write_series(w, "true_repair", c.true_repair, from, to);
    for (const RaterId r : {RaterId::Patient, RaterId::Therapist}) {
      const RaterEvents& e = a.events[index_of(r)];
      write_series(w, std::string(name(r)) + "_rupture", e.rupture, from, to);
      write_series(w, std::string(name(r)) + "_repair", e.repair, from, to);
    }
    w.end_object();
  }
  w.end_array().end_object();
  return json_reply(200, os.str());
}

Reply Sandbox::scenario_toml(std::string_view body) const {
  auto resolved = resolve(body);
  if (auto* r = std::get_if<Reply>(&resolved)) return *r;
  const ScenarioFile& file = std::get<ScenarioFile>(resolved);
  std::string text =
      "# Settings of the collabzium sandbox (`collabzium serve`). `collabzium run` on this file\n"
      "# reproduces the sandbox's study exactly (same seed and replications).\n";
  text += to_toml(file);
  return Reply{200, "application/toml; charset=utf-8", text, file.base.name + ".toml"};
}

std::variant<Reply, StudyTicket> Sandbox::prepare_study(std::string_view body) {
  auto resolved = resolve(body);
  if (auto* r = std::get_if<Reply>(&resolved)) return *r;
  if (!slots_.try_acquire())
    return error_reply(429, "busy: " + std::to_string(threads_) +
                                " studies are running (as many as the server has threads); try again shortly");
  StudyTicket t;
  t.slot = std::shared_ptr<void>(nullptr, [this](void*) { slots_.release(); });
  // The cores not taken by the other running studies (results do not depend on the count).
  t.threads = std::max(1, slots_.free() + 1);
  t.file = std::move(std::get<ScenarioFile>(resolved));
  return t;
}

std::optional<Reply> Sandbox::run_prepared(const StudyTicket& ticket, const StudyProgress& progress) const {
  const auto t0 = std::chrono::steady_clock::now();
  const ScenarioFile& file = ticket.file;
  const Scenario& s = file.base;
  const std::size_t R = static_cast<std::size_t>(s.run.replications);
  const std::vector<Scenario> scenarios{s};
  const RecordLayout layout = make_layout(scenarios);
  RecordTable records(layout.columns, 1, R);
  // Batches of about a tenth of the study: progress to report and a point to stop at when the
  // client has gone, at little cost in idle threads at each batch's end. No signals: the server
  // handles its own.
  BatchLoop loop;
  loop.width = records.width();
  loop.threads = ticket.threads;
  loop.fixed_batch = std::clamp<std::size_t>(R / 10, 4 * static_cast<std::size_t>(ticket.threads), 250);
  bool cancelled = false;
  if (progress)
    loop.keep_going = [&](std::size_t done, std::size_t total) {
      cancelled = !progress(done, total);
      return !cancelled;
    };
  const auto seed = static_cast<std::uint64_t>(s.run.seed);
  std::vector<std::uint8_t> done = records.done();
  std::size_t failures = 0;
  try {
    failures = run_batches(
        loop,
        [&](const std::vector<std::uint64_t>& tasks, double* rows) {
          std::vector<std::pair<std::uint32_t, std::uint32_t>> replications;
          for (const std::uint64_t r : tasks) replications.emplace_back(0, static_cast<std::uint32_t>(r));
          return compute_records(scenarios, layout, seed, replications, ticket.threads, rows);
        },
        pending_tasks(done), &records, done);
  } catch (const InputError& e) {
    return error_reply(400, e.what());
  }
  if (cancelled || (progress && !progress(R, R))) return std::nullopt;
  // The same scoring as run_study and study_summary, so the rows equal `run`'s summary.
  const std::vector<SummaryRow> summary = summarize_study(
      file, layout.columns, [&](const std::string& column, std::size_t c) { return records.column(column, c); }, done,
      R);
  const Pattern pattern = published_pattern(layout.columns, records.rows(), R, s.run.alpha);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::ostringstream os;
  JsonWriter w(os);
  w.begin_object()
      .field("seed", static_cast<long long>(s.run.seed))
      .field("replications", static_cast<long long>(R))
      .field("failed", static_cast<long long>(failures))
      .field("threads", ticket.threads)
      .field("seconds", seconds);
  const double p = pattern.n ? static_cast<double>(pattern.hits) / static_cast<double>(pattern.n) : kNaN;
  w.key("pattern")
      .begin_object()
      .field("probability", p)
      .field("mcse", pattern.n ? std::sqrt(p * (1 - p) / static_cast<double>(pattern.n)) : kNaN)
      .field("n", static_cast<long long>(pattern.n))
      .end_object();
  w.key("rows").begin_array();
  for (const auto& r : summary)
    w.begin_object()
        .field("model", r.model)
        .field("rater", r.rater)
        .field("term", r.term)
        .field("measure", r.measure)
        .field("value", r.value)
        .field("mcse", r.mcse)
        .end_object();
  w.end_array().end_object();
  return json_reply(200, os.str());
}

Reply Sandbox::study(std::string_view body) {
  auto prepared = prepare_study(body);
  if (auto* r = std::get_if<Reply>(&prepared)) return *r;
  return *run_prepared(std::get<StudyTicket>(prepared));
}

}  // namespace collabzium
