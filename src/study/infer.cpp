#include "collabzium/study/infer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <ostream>
#include <sstream>

#include "collabzium/analysis/analysis.h"
#include "collabzium/error.h"
#include "collabzium/format.h"
#include "collabzium/input_file.h"
#include "collabzium/io/output_file.h"
#include "collabzium/model/random.h"
#include "collabzium/model/simulator.h"
#include "collabzium/numeric.h"
#include "collabzium/study/batch_driver.h"
#include "collabzium/study/runner.h"  // summary_csv_path
#include "collabzium/study/search.h"

namespace collabzium {

namespace {

// FNV-1a of a key's name: the label hashed into its prior stream.
std::uint64_t name_hash(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace

double draw_prior(const Prior& p, std::uint64_t seed, std::uint64_t k) {
  Engine eng(mix64(stream_seed(seed, 0, k + 1, StreamPurpose::InferPrior) ^ name_hash(p.key)));
  const double u = draw_uniform(eng);
  switch (p.kind) {
    case PriorKind::Uniform: return p.a + (p.b - p.a) * u;
    case PriorKind::LogUniform: return std::exp(std::log(p.a) + (std::log(p.b) - std::log(p.a)) * u);
    case PriorKind::Normal: {
      // Inversion within the truncation: one uniform per draw, whatever the bounds, so the draws of
      // different bounds are monotone in each other (no rejection loop of variable length).
      const double lo = std::isfinite(p.lo) ? normal_cdf((p.lo - p.a) / p.b) : 0.0;
      const double hi = std::isfinite(p.hi) ? normal_cdf((p.hi - p.a) / p.b) : 1.0;
      double q = lo + (hi - lo) * u;
      q = std::clamp(q, 1e-300, 1.0 - 1e-16);
      const double x = p.a + p.b * normal_quantile(q);
      return std::clamp(x, p.lo, p.hi);
    }
    case PriorKind::Choice: {
      const double total = std::accumulate(p.weights.begin(), p.weights.end(), 0.0);
      double acc = 0;
      for (std::size_t i = 0; i < p.weights.size(); ++i) {
        acc += p.weights[i];
        if (u * total < acc) return static_cast<double>(i);
      }
      // u * total rounded up to the total: the last value of positive weight.
      for (std::size_t i = p.weights.size(); i-- > 0;)
        if (p.weights[i] > 0) return static_cast<double>(i);
      return 0;
    }
  }
  return kNaN;
}

double prior_cdf(const Prior& p, double x) {
  switch (p.kind) {
    case PriorKind::Uniform: return std::clamp((x - p.a) / (p.b - p.a), 0.0, 1.0);
    case PriorKind::LogUniform:
      return x <= 0 ? 0.0 : std::clamp((std::log(x) - std::log(p.a)) / (std::log(p.b) - std::log(p.a)), 0.0, 1.0);
    case PriorKind::Normal: {
      const double lo = std::isfinite(p.lo) ? normal_cdf((p.lo - p.a) / p.b) : 0.0;
      const double hi = std::isfinite(p.hi) ? normal_cdf((p.hi - p.a) / p.b) : 1.0;
      return std::clamp((normal_cdf((x - p.a) / p.b) - lo) / (hi - lo), 0.0, 1.0);
    }
    case PriorKind::Choice: break;
  }
  return kNaN;
}

bool meets(const Observed& o, const double* q, double alpha) {
  switch (o.finding) {
    case Finding::Number: return std::fabs(q[0] - o.value) <= o.tolerance;  // false for NaN
    case Finding::Positive: return q[1] < alpha && q[0] > 0;
    case Finding::Negative: return q[1] < alpha && q[0] < 0;
    case Finding::Null: return q[1] >= alpha;
    case Finding::Any: return true;
  }
  return false;
}

namespace {

std::size_t quantities_of(const Observed& o) { return o.finding == Finding::Number ? 1 : 2; }

// The record column(s) of an observed name under `layout`, or empty when it names none.
std::vector<std::string> columns_of(const Observed& o, const RecordLayout& layout) {
  auto has = [&](const std::string& c) {
    return std::find(layout.columns.begin(), layout.columns.end(), c) != layout.columns.end();
  };
  const bool coefficient = has(o.name + ".estimate") && has(o.name + ".p");
  if (o.finding != Finding::Number) {
    if (!coefficient) return {};
    return {o.name + ".estimate", o.name + ".p"};
  }
  if (coefficient) return {o.name + ".estimate"};
  if (has(o.name)) return {o.name};
  return {};
}

}  // namespace

InferencePlan plan_inference(const ScenarioFile& file) {
  const InferSettings& in = file.infer;
  if (!in.present) throw InputError(locate(file.path, 0, "infer", "the scenario has no [infer] table"));
  require_one_condition(file, "infer", ": the published study had one design");
  InferencePlan plan;
  plan.scenario = file.conditions.front().scenario;
  plan.alpha = plan.scenario.run.alpha;
  plan.seed = static_cast<std::uint64_t>(in.seed);
  plan.study_seed = derive_seed(plan.seed, kInferStudyTag);
  for (const Prior& p : in.prior) plan.keys.push_back(find_key(p.key));
  // Only the models the findings name are fitted: each costs as much as simulating the cohort.
  std::vector<std::string> findings;
  for (const Observed& o : in.observed) findings.push_back(o.name);
  plan.scenario = fitting_only_named_models(plan.scenario, findings);
  // A prior key that changes the terms of a fitted kind (its model-kind entry's layout_keys).
  for (const Prior& p : in.prior)
    if (changes_layout(plan.scenario.analysis.models, p.key)) plan.layout_varies = true;
  plan.layout = make_layout({plan.scenario});
  for (const Observed& o : in.observed) {
    const std::vector<std::string> cols = columns_of(o, plan.layout);
    if (cols.empty()) {
      const std::string what =
          o.finding == Finding::Number
              ? "unknown name: expected MODEL.RATER.TERM (e.g. lagged.patient.rupture) or a record column such as "
                "detection.RATER.MEASURE (e.g. detection.patient.prevalence)"
              : "a finding (\"" + std::string(name(o.finding)) +
                    "\") needs a coefficient MODEL.RATER.TERM of the analysis, e.g. lagged.patient.rupture";
      throw InputError(locate(o.file, o.line, "infer.observed." + o.name, what));
    }
    plan.first.push_back(plan.quantities.size());
    for (const auto& c : cols) {
      plan.quantities.push_back(c);
      plan.column.push_back(static_cast<int>(std::find(plan.layout.columns.begin(), plan.layout.columns.end(), c) -
                                             plan.layout.columns.begin()));
    }
  }
  return plan;
}

void compute_draws(const InferencePlan& plan, const InferSettings& in, const std::vector<std::uint64_t>& draws,
                   int threads, double* rows) {
  const std::size_t width = plan.width(), P = plan.keys.size(), Q = plan.quantities.size();
#pragma omp parallel num_threads(threads)
  {
    // Per thread, reused across its draws: every prior key is set anew in each draw, so the
    // scenario needs no reset, and the cohort keeps its capacity.
    Scenario s = plan.scenario;
    Cohort cohort;
    RecordLayout own = plan.layout;
    std::vector<int> column = plan.column;
    std::vector<double> record(plan.layout.columns.size());
#pragma omp for schedule(dynamic, 1)
    for (std::size_t i = 0; i < draws.size(); ++i) {
      const std::uint64_t k = draws[i];
      double* row = rows + i * width;
      std::fill(row, row + width, kNaN);
      bool invalid = false;
      for (std::size_t p = 0; p < P; ++p) {
        const Prior& prior = in.prior[p];
        row[p] = draw_prior(prior, plan.seed, k);
        if (prior.kind == PriorKind::Choice)
          set_key_value(s, plan.keys[p], prior.values[static_cast<std::size_t>(row[p])]);
        else set_key_value(s, plan.keys[p], KeyValue(row[p]));
      }
      bool accepted = false;
      try {
        check_scenario(s, "");
        if (plan.layout_varies) {
          own = make_layout({s});
          record.resize(own.columns.size());
          for (std::size_t q = 0; q < Q; ++q) {
            const auto it = std::find(own.columns.begin(), own.columns.end(), plan.quantities[q]);
            column[q] = it == own.columns.end() ? -1 : static_cast<int>(it - own.columns.begin());
          }
        }
        const std::int64_t replication = static_cast<std::int64_t>(k) + 1;
        simulate_cohort(s, plan.study_seed, 1, replication, cohort);
        const CohortAnalysis analysis =
            analyze_cohort(cohort, s, ReplicationId{plan.study_seed, 1, static_cast<std::uint64_t>(replication)});
        fill_record(plan.layout_varies ? own : plan.layout, 0, s, cohort, analysis, record.data());
        for (std::size_t q = 0; q < Q; ++q)
          row[P + q] = column[q] >= 0 ? record[static_cast<std::size_t>(column[q])] : kNaN;
        accepted = true;
        for (std::size_t o = 0; o < in.observed.size(); ++o)
          if (!meets(in.observed[o], row + P + plan.first[o], plan.alpha)) accepted = false;
      } catch (const InputError&) {
        // An inconsistent drawn scenario (check_scenario) or one the model cannot generate
        // (GeneratorError): a rejected draw, counted as invalid.
        invalid = true;
      } catch (const std::exception&) {
        // A failure of the analysis: the draw is kept with NaN quantities and rejected.
      }
      row[P + Q] = accepted && !invalid ? 1.0 : 0.0;
      row[P + Q + 1] = invalid ? 1.0 : 0.0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The posterior.

std::vector<std::uint8_t> accepted_draws(const PosteriorInput& in) {
  const InferSettings& inf = *in.infer;
  const std::size_t K = in.done.size();
  std::vector<std::uint8_t> acc(K, 0);
  std::vector<const std::vector<double>*> cols;
  for (const Observed& o : inf.observed) {
    std::vector<std::string> names;
    if (o.finding == Finding::Number) {
      names.push_back(in.values.count(o.name + ".estimate") ? o.name + ".estimate" : o.name);
    } else {
      names = {o.name + ".estimate", o.name + ".p"};
    }
    for (const auto& n : names) {
      const auto it = in.values.find(n);
      if (it == in.values.end()) throw InputError(locate("inference file", 0, n, "no such column in /draws"));
      cols.push_back(&it->second);
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    if (!in.done[k] || in.invalid[k]) continue;
    bool ok = true;
    std::size_t c = 0;
    for (const Observed& o : inf.observed) {
      double q[2] = {(*cols[c])[k], o.finding == Finding::Number ? kNaN : (*cols[c + 1])[k]};
      c += quantities_of(o);
      if (!meets(o, q, in.alpha)) ok = false;
    }
    acc[k] = ok ? 1 : 0;
  }
  return acc;
}

namespace {

struct Moments {
  double n = 0, mean = kNaN, sd = kNaN;
};
Moments moments(const std::vector<double>& x) {
  Moments m;
  m.n = static_cast<double>(x.size());
  if (x.empty()) return m;
  m.mean = std::accumulate(x.begin(), x.end(), 0.0) / m.n;
  double ss = 0;
  for (double v : x) ss += (v - m.mean) * (v - m.mean);
  m.sd = x.size() > 1 ? std::sqrt(ss / (m.n - 1)) : kNaN;
  return m;
}

// Type 7 (R's default) quantile of sorted x, and its Monte Carlo SE from the binomial
// order-statistic interval: the ranks n·q ± 1.96·sqrt(n·q·(1 − q)) bracket the quantile with 95%
// probability, so (x_upper − x_lower) / (2 · 1.96) is its SE.
std::pair<double, double> quantile(const std::vector<double>& sorted, double q) {
  const std::size_t n = sorted.size();
  if (n == 0) return {kNaN, kNaN};
  const double h = (static_cast<double>(n) - 1) * q;
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, n - 1);
  const double value = sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
  const double half = 1.96 * std::sqrt(static_cast<double>(n) * q * (1 - q));
  const double nq = static_cast<double>(n) * q;
  const auto rank = [&](double r) { return static_cast<std::size_t>(std::clamp(r, 0.0, static_cast<double>(n - 1))); };
  const double mcse =
      n > 1 ? (sorted[rank(std::ceil(nq + half))] - sorted[rank(std::floor(nq - half))]) / (2 * 1.96) : kNaN;
  return {value, mcse};
}

double binomial_se(double p, double n) { return n > 0 ? std::sqrt(p * (1 - p) / n) : kNaN; }

std::string value_text(const KeyValue& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s;
  return format_value(v);
}

}  // namespace

std::vector<PosteriorRow> posterior_summary(const PosteriorInput& in) {
  const InferSettings& inf = *in.infer;
  const std::vector<std::uint8_t> acc = accepted_draws(in);
  const std::size_t K = in.done.size();
  double n_done = 0, n_acc = 0, n_invalid = 0;
  for (std::size_t k = 0; k < K; ++k) {
    n_done += in.done[k];
    n_acc += acc[k];
    n_invalid += in.done[k] && in.invalid[k];
  }
  std::vector<PosteriorRow> rows;
  const std::string all = "(all)";
  const double rate = n_done > 0 ? n_acc / n_done : kNaN;
  rows.push_back({all, "", "draws", n_done, kNaN});
  rows.push_back({all, "", "accepted", n_acc, kNaN});
  rows.push_back({all, "", "acceptance_rate", rate, binomial_se(rate, n_done)});
  rows.push_back({all, "", "invalid", n_invalid, kNaN});
  // Each condition alone: the share of valid draws that meet it (which finding is hardest to match).
  {
    const double valid = n_done - n_invalid;
    for (const Observed& o : inf.observed) {
      InferSettings one = inf;
      one.observed = {o};
      PosteriorInput single{&one, in.alpha, {}, in.done, in.invalid};
      for (const auto& [name, v] : in.values)
        if (name == o.name || name.rfind(o.name + ".", 0) == 0) single.values[name] = v;
      const auto met_by = accepted_draws(single);
      const double met = std::accumulate(met_by.begin(), met_by.end(), 0.0);
      const double share = valid > 0 ? met / valid : kNaN;
      rows.push_back({o.name, o.finding == Finding::Number ? "" : std::string(name(o.finding)), "met", share,
                      binomial_se(share, valid)});
    }
  }
  for (const Prior& p : inf.prior) {
    const auto it = in.values.find(p.key);
    if (it == in.values.end()) throw InputError(locate("inference file", 0, p.key, "no such column in /draws"));
    const std::vector<double>& x = it->second;
    if (p.kind == PriorKind::Choice) {
      const double total = std::accumulate(p.weights.begin(), p.weights.end(), 0.0);
      for (std::size_t v = 0; v < p.values.size(); ++v) {
        double nv = 0, av = 0;  // draws with this value; accepted ones
        for (std::size_t k = 0; k < K; ++k)
          if (in.done[k] && x[k] == static_cast<double>(v)) {
            nv += 1;
            av += acc[k];
          }
        const double prob = n_acc > 0 ? av / n_acc : kNaN;
        // Bayes factor of "value" against "not value": the ratio of their acceptance rates, which
        // equals posterior odds / prior odds; its MCSE by the delta method on the log.
        const double r1 = nv > 0 ? av / nv : kNaN, r0 = (n_done - nv) > 0 ? (n_acc - av) / (n_done - nv) : kNaN;
        const double bf = r1 / r0;
        const double var_log = (1 - r1) / av + (1 - r0) / (n_acc - av);
        const double bf_se = av > 0 && n_acc - av > 0 ? bf * std::sqrt(var_log) : kNaN;
        const std::string value = value_text(p.values[v]);
        rows.push_back({p.key, value, "prior_probability", p.weights[v] / total, kNaN});
        rows.push_back({p.key, value, "probability", prob, binomial_se(prob, n_acc)});
        rows.push_back({p.key, value, "bayes_factor", bf, bf_se});
      }
      continue;
    }
    std::vector<double> prior, post;
    for (std::size_t k = 0; k < K; ++k)
      if (in.done[k]) {
        prior.push_back(x[k]);
        if (acc[k]) post.push_back(x[k]);
      }
    const Moments pm = moments(prior), qm = moments(post);
    // MCSE: a mean's sd/sqrt(n); an sd's sd/sqrt(2(n − 1)) (normal approximation).
    auto sd_se = [](const Moments& m) { return m.n > 1 ? m.sd / std::sqrt(2 * (m.n - 1)) : kNaN; };
    rows.push_back({p.key, "", "prior_mean", pm.mean, pm.sd / std::sqrt(pm.n)});
    rows.push_back({p.key, "", "prior_sd", pm.sd, sd_se(pm)});
    rows.push_back({p.key, "", "mean", qm.mean, qm.n > 0 ? qm.sd / std::sqrt(qm.n) : kNaN});
    rows.push_back({p.key, "", "sd", qm.sd, sd_se(qm)});
    std::sort(post.begin(), post.end());
    for (auto [q, label] : {std::pair{0.025, "q025"}, std::pair{0.5, "q50"}, std::pair{0.975, "q975"}}) {
      const auto [value, se] = quantile(post, q);
      rows.push_back({p.key, "", label, value, se});
    }
    const double ratio = qm.sd / pm.sd;
    const double ratio_se =
        qm.n > 1 && pm.n > 1 ? ratio * std::sqrt(1 / (2 * (qm.n - 1)) + 1 / (2 * (pm.n - 1))) : kNaN;
    rows.push_back({p.key, "", "sd_ratio", ratio, ratio_se});
  }
  return rows;
}

namespace {

std::string num(double x, int digits = 4) { return format_significant(x, digits); }

const PosteriorRow* find_row(const std::vector<PosteriorRow>& rows, const std::string& parameter,
                             const std::string& value, const std::string& measure) {
  for (const auto& r : rows)
    if (r.parameter == parameter && r.value == value && r.measure == measure) return &r;
  return nullptr;
}

double get(const std::vector<PosteriorRow>& rows, const std::string& parameter, const std::string& value,
           const std::string& measure, double* mcse = nullptr) {
  const PosteriorRow* r = find_row(rows, parameter, value, measure);
  if (mcse) *mcse = r ? r->mcse : kNaN;
  return r ? r->value_num : kNaN;
}

}  // namespace

void print_posterior(const std::vector<PosteriorRow>& rows, std::ostream& out) {
  double rate_se = 0;
  const double draws = get(rows, "(all)", "", "draws"), acc = get(rows, "(all)", "", "accepted");
  const double rate = get(rows, "(all)", "", "acceptance_rate", &rate_se);
  out << "accepted " << num(acc, 10) << " of " << num(draws, 10) << " draws: acceptance rate " << num(rate) << " (MCSE "
      << num(rate_se, 2) << "); invalid draws " << num(get(rows, "(all)", "", "invalid"), 10) << "\n";
  out << "\nfinding                                   condition  met by (share of valid draws)\n";
  for (const auto& r : rows)
    if (r.measure == "met") {
      char line[256];
      std::snprintf(line, sizeof line, "%-41s %-10s %s (MCSE %s)\n", r.parameter.c_str(),
                    r.value.empty() ? "value" : r.value.c_str(), num(r.value_num).c_str(), num(r.mcse, 2).c_str());
      out << line;
    }
  out << "\nparameter                           prior mean (sd)      posterior mean (sd)   95% interval          "
         "sd ratio\n";
  std::vector<std::string> done_params;
  for (const auto& r : rows) {
    if (r.measure != "prior_mean") continue;
    const std::string& p = r.parameter;
    char line[512];
    std::snprintf(line, sizeof line, "%-35s %8s (%-8s)  %8s (%-8s)  [%s, %s]  %s\n", p.c_str(),
                  num(r.value_num).c_str(), num(get(rows, p, "", "prior_sd")).c_str(),
                  num(get(rows, p, "", "mean")).c_str(), num(get(rows, p, "", "sd")).c_str(),
                  num(get(rows, p, "", "q025")).c_str(), num(get(rows, p, "", "q975")).c_str(),
                  num(get(rows, p, "", "sd_ratio"), 3).c_str());
    out << line;
  }
  bool header = false;
  for (const auto& r : rows) {
    if (r.measure != "probability") continue;
    if (!header) {
      out << "\nchoice                              value        prior   posterior (MCSE)   Bayes factor (MCSE)\n";
      header = true;
    }
    double bf_se = 0;
    const double bf = get(rows, r.parameter, r.value, "bayes_factor", &bf_se);
    char line[512];
    std::snprintf(line, sizeof line, "%-35s %-12s %5s   %6s (%-7s)    %s (%s)\n", r.parameter.c_str(), r.value.c_str(),
                  num(get(rows, r.parameter, r.value, "prior_probability"), 3).c_str(), num(r.value_num, 3).c_str(),
                  num(r.mcse, 2).c_str(), num(bf, 3).c_str(), num(bf_se, 2).c_str());
    out << line;
  }
  if (acc < 200)
    out << "\nwarning: only " << num(acc, 10)
        << " draws were accepted (fewer than 200): the posterior figures are rough; run more draws or loosen the "
           "tolerances\n";
}

void write_posterior_csv(const std::vector<PosteriorRow>& rows, std::ostream& out) {
  constexpr int digits = 12;
  out << "parameter,value,measure,value_num,mcse\n";
  for (const auto& r : rows)
    out << csv_field(r.parameter) << "," << csv_field(r.value) << "," << r.measure << ","
        << csv_number(r.value_num, digits) << "," << csv_number(r.mcse, digits) << "\n";
}

// ---------------------------------------------------------------------------------------------
// The run: batches of draws over threads and ranks, flushed to the file.

namespace {

std::vector<InferenceColumn> file_columns(const InferSettings& in, const InferencePlan& plan) {
  std::vector<InferenceColumn> cols;
  for (const Prior& p : in.prior) {
    InferenceColumn c{p.key, {}};
    if (p.kind == PriorKind::Choice)
      for (const auto& v : p.values) c.values.push_back(value_text(v));
    cols.push_back(std::move(c));
  }
  for (const auto& q : plan.quantities) cols.push_back({q, {}});
  return cols;
}

PosteriorInput input_of(const InferSettings& in, double alpha, const std::vector<InferenceColumn>& columns,
                        const std::function<std::vector<double>(const std::string&)>& column,
                        std::vector<std::uint8_t> done, std::vector<std::uint8_t> invalid) {
  PosteriorInput pi;
  pi.infer = &in;
  pi.alpha = alpha;
  for (const auto& c : columns) pi.values[c.name] = column(c.name);
  pi.done = std::move(done);
  pi.invalid = std::move(invalid);
  return pi;
}

// `infer` for the batch driver: task k is draw k.
class InferStudy final : public FileStudy {
 public:
  InferStudy(const ScenarioFile& file, const InferenceRequest& req)
      : file_(file),
        in_(file.infer),
        plan_(plan_inference(file)),
        draws_(static_cast<std::size_t>(in_.draws)),
        threads_(study_threads(req.threads, file.base.run.threads)),
        meta_(study_metadata(file, in_.seed)),
        columns_(file_columns(in_, plan_)) {}

  Words words() const override { return {"draws", "inference file", "an inference file (.h5)"}; }
  std::size_t tasks() const override { return draws_; }
  std::size_t width() const override { return plan_.width(); }
  int threads() const override { return threads_; }
  const RunMetadata& metadata() const override { return meta_; }

  std::size_t compute(const std::vector<std::uint64_t>& tasks, double* rows) const override {
    compute_draws(plan_, in_, tasks, threads_, rows);
    return 0;  // a failed draw is a rejected one, kept in the file
  }

  Stored inspect(const std::string& path, bool in_child) const override {
    if (in_child) check_inference_readable(path);
    const InferenceFile existing = read_inference(path);
    return {existing.meta, existing.complete};
  }

  std::unique_ptr<StudyFileWriter> create(const std::string& path) const override {
    return std::make_unique<Writer>(*this, path, InferenceWriter(path, meta_, columns_, draws_));
  }
  std::unique_ptr<StudyFileWriter> resume(const std::string& path) const override {
    return std::make_unique<Writer>(*this, path, InferenceWriter::resume(path, meta_, columns_, draws_));
  }

  void report(const std::string& out_path, std::size_t, std::ostream& out) const override {
    {
      AtomicFile csv(summary_csv_path(out_path));
      write_posterior_csv(summary_, csv.stream());
      csv.commit();
    }
    out << "Inference " << file_.base.name << ": " << draws_ << " draws, seed " << in_.seed << ", " << threads_
        << " thread(s); study seed " << plan_.study_seed << "\n";
    print_posterior(summary_, out);
    out << "wrote " << out_path << " and " << summary_csv_path(out_path) << "\n";
  }

 private:
  class Writer final : public StudyFileWriter {
   public:
    Writer(const InferStudy& study, std::string path, InferenceWriter writer)
        : study_(study), path_(std::move(path)), writer_(std::move(writer)) {}
    std::vector<std::uint8_t> done() const override { return writer_.done(); }
    void write(const std::vector<std::uint64_t>& tasks, const std::vector<double>& rows) override {
      writer_.write(tasks, rows);
    }
    void flush() override {}  // InferenceWriter::write flushes each batch itself
    // The posterior of whatever is done, read back from the file (what summarize will see).
    void write_summary(const std::vector<std::uint8_t>&) override {
      const InferenceFile f = read_inference(path_);
      study_.summary_ = posterior_summary(input_of(
          study_.in_, study_.plan_.alpha, study_.columns_, [&](const std::string& c) { return f.column(c); }, f.done,
          f.invalid));
      writer_.write_summary(study_.summary_);
    }
    void mark_complete() override { writer_.mark_complete(); }

   private:
    const InferStudy& study_;
    std::string path_;
    InferenceWriter writer_;
  };

  const ScenarioFile& file_;
  const InferSettings& in_;
  InferencePlan plan_;
  std::size_t draws_;
  int threads_;
  RunMetadata meta_;
  std::vector<InferenceColumn> columns_;
  // Computed when the file gets its summary, printed by report.
  mutable std::vector<PosteriorRow> summary_;
};

}  // namespace

void run_inference(const ScenarioFile& file, const InferenceRequest& req, std::ostream& out) {
  drive_study_file(InferStudy(file, req), req, out);
}

void summarize_inference(const std::string& path, const std::string& csv, const std::vector<std::string>& tolerances,
                         std::ostream& out) {
  check_inference_readable(path);
  const InferenceFile f = read_inference(path);
  ScenarioFile file = parse_scenario(f.meta.config, path + " (config attribute)");
  if (!file.infer.present) throw InputError(locate(path, 0, "config", "damaged inference file: no [infer] table"));
  for (const auto& t : tolerances) {
    const auto eq = t.find('=');
    const std::string key = eq == std::string::npos ? t : t.substr(0, eq);
    auto it = std::find_if(file.infer.observed.begin(), file.infer.observed.end(),
                           [&](const Observed& o) { return o.name == key; });
    if (eq == std::string::npos || eq == 0)
      throw InputError(locate("--tolerance", 0, t, "expected NAME=VALUE, e.g. detection.patient.prevalence=0.03"));
    if (it == file.infer.observed.end())
      throw InputError(locate("--tolerance", 0, key, "is not an observed finding of " + path));
    if (it->finding != Finding::Number)
      throw InputError(locate("--tolerance", 0, key,
                              "is a finding (\"" + std::string(name(it->finding)) + "\"), which has no tolerance"));
    const std::string v = t.substr(eq + 1);
    double x = 0;
    if (!parse_number(v, x) || x < 0)
      throw InputError(locate("--tolerance", 0, key, "must be a finite number >= 0, got " + v));
    it->tolerance = x;
  }
  const std::vector<PosteriorRow> rows = posterior_summary(input_of(
      file.infer, file.base.run.alpha, f.columns, [&](const std::string& c) { return f.column(c); }, f.done,
      f.invalid));
  if (!csv.empty()) {
    AtomicFile file_out(csv);
    write_posterior_csv(rows, file_out.stream());
    file_out.commit();
  }
  out << "Inference " << path << ": " << (f.complete ? "complete" : "INCOMPLETE") << ", seed " << f.meta.seed
      << ", git " << f.meta.git_sha << "\n";
  if (!tolerances.empty()) {
    out << "tolerances:";
    for (const auto& o : file.infer.observed)
      if (o.finding == Finding::Number) out << " " << o.name << "=" << num(o.tolerance);
    out << "\n";
  }
  print_posterior(rows, out);
}

}  // namespace collabzium
