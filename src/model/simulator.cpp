#include "collabzium/model/simulator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "collabzium/model/random.h"
#include "collabzium/numeric.h"

namespace collabzium {

namespace {

// Round to the nearest integer by the 2^52 + 2^51 trick (ties to even; an item value P + ε is
// continuous, so ties have probability zero). Much cheaper than a libm call in the item loop.
inline double round_item(double x) {
  constexpr double magic = 6755399441055744.0;
  if (std::abs(x) > 1e15) return std::round(x);
  return (x + magic) - magic;
}

double logit(double p) { return std::log(p / (1 - p)); }  // -inf at 0, +inf at 1

// logistic(eta), exact 0 and 1 at eta = -inf and +inf.
double logistic(double eta) { return 1.0 / (1.0 + std::exp(-eta)); }

std::int64_t planned_sessions(const SessionPlan& plan, Engine& eng) {
  std::int64_t t;
  if (plan.distribution == SessionDistribution::Fixed) t = std::llround(plan.mean);
  else if (plan.distribution == SessionDistribution::Poisson) t = draw_poisson(eng, plan.mean);
  else t = draw_uniform_int(eng, plan.min, plan.max);
  return std::clamp(t, plan.min, plan.max);
}

// Whether an onset or repair moves distress under `via`: every latent one, or those of episodes
// the named rater(s) registered.
bool felt(EventVia via, bool by_patient, bool by_therapist) {
  switch (via) {
    case EventVia::Patient: return by_patient;
    case EventVia::Therapist: return by_therapist;
    case EventVia::Either: return by_patient || by_therapist;
    case EventVia::Both: return by_patient && by_therapist;
    default: return true;
  }
}

// A rater's per-replication state: leniency of each rating person, the episode being perceived.
struct RaterState {
  const Rater* params;
  Engine eng;
  Engine registration;
  bool therapist_rates;  // leniency belongs to the therapist, dyad effect to the patient
  bool continuous;       // response = "continuous"
  std::vector<double> therapist_leniency;
  double patient_leniency = 0;
  bool registered = false;  // registers the current rupture episode
};

double observe_alliance(const Rater& r, bool continuous, double perceived, Engine& eng) {
  const double k = static_cast<double>(r.items);
  if (continuous) return perceived + draw_normal(eng, r.item_sd / std::sqrt(k));
  double sum = 0;
  for (std::int64_t i = 0; i < r.items; ++i) {
    const double y = round_item(perceived + draw_normal(eng, r.item_sd));
    sum += std::clamp(y, r.scale_min, r.scale_max);
  }
  return sum / k;
}

double observe_distress(const Distress& d, bool continuous, double latent, Engine& eng) {
  const double k = static_cast<double>(d.items);
  if (continuous) return latent + draw_normal(eng, d.item_sd * std::sqrt(k));
  double sum = 0;
  for (std::int64_t i = 0; i < d.items; ++i)
    sum += std::clamp(round_item(latent / k + draw_normal(eng, d.item_sd)), 0.0, 4.0);
  return sum;
}

// Therapist j's random effects (docs/model.md 2.2-2.4): u_j, c_j and the repair skill k_j.
struct TherapistEffects {
  double alliance = 0, distress = 0, repair_skill = 0;
};

// Patient i's random effects and the stationary start of the two autoregressive parts.
struct PatientEffects {
  double alliance = 0, growth = 0, propensity = 0, distress = 0, trend = 0;
  double e = 0, a = 0;  // e_i1, a_i1
};

// What one patient carries from session to session.
struct PatientState {
  double e = 0, a = 0;  // AR parts of alliance and distress in the current session
  bool ruptured = false;
  double depth = 0, bonus = 0;
  // Events of the previous session that enter this session's distress (docs/model.md 2.4, 2.7): the
  // effective onset and repair, an unresolved rupture, the patient's false alarm.
  bool prev_onset = false, prev_repair = false, prev_unresolved = false, prev_false_alarm = false;
  double prev_e = 0;
};

// The events of one session (docs/model.md 2.3) and which of them move distress (2.7).
struct SessionEvents {
  bool onset = false, repair = false;
  bool effective_onset = false, effective_repair = false;
};

// One rater's rating of a session and what went into it.
struct Rating {
  double score;
  std::uint8_t registered;   // the rater registers the episode active in the session
  std::uint8_t false_alarm;  // F > 0 (docs/model.md 2.5)
};

// One replication's simulation: its streams, the per-replication constants (so the session loop
// compares no strings and takes no extra logs) and one function per sub-model of docs/model.md 2.
class CohortSimulation {
 public:
  CohortSimulation(const Scenario& s, std::uint64_t seed, int condition, std::int64_t replication)
      : s_(s),
        design_(stream(seed, condition, replication, StreamPurpose::Design)),
        latent_(stream(seed, condition, replication, StreamPurpose::Latent)),
        measure_(stream(seed, condition, replication, StreamPurpose::DistressMeasurement)),
        raters_{{&s.raters.patient,
                 stream(seed, condition, replication, StreamPurpose::PatientRater),
                 stream(seed, condition, replication, StreamPurpose::PatientRegistration),
                 false,
                 s.raters.patient.response == Response::Continuous,
                 {}},
                {&s.raters.therapist,
                 stream(seed, condition, replication, StreamPurpose::TherapistRater),
                 stream(seed, condition, replication, StreamPurpose::TherapistRegistration),
                 true,
                 s.raters.therapist.response == Response::Continuous,
                 {}}},
        growth_shape_(s.alliance.growth_shape),
        distress_continuous_(s.distress.response == Response::Continuous),
        onset_logit_(logit(s.rupture.onset_probability)),
        dropout_logit_(logit(s.design.dropout.base)),
        sd_e_(s.alliance.innovation_sd / std::sqrt(1 - s.alliance.ar * s.alliance.ar)),
        sd_a_(s.distress.innovation_sd / std::sqrt(1 - s.distress.ar * s.distress.ar)),
        rupture_via_(s.distress.effects.rupture_via),
        repair_via_(s.distress.effects.repair_via) {}

  void run(Cohort& out) {
    out.clear();
    simulate_design(out);
    draw_therapist_effects(static_cast<int>(s_.design.therapists));
    const std::size_t N = out.patients();
    const std::size_t expected_rows = N * static_cast<std::size_t>(std::max(1.0, s_.design.sessions.mean));
    out.has_truth = true;
    out.has_effective = true;
    for (auto* v :
         {&out.distress, &out.alliance_patient, &out.alliance_therapist, &out.true_alliance, &out.true_distress})
      v->reserve(expected_rows);
    for (std::size_t i = 0; i < N; ++i) {
      simulate_patient(i, out);
      out.offset.push_back(out.session.size());
    }
  }

 private:
  static Engine stream(std::uint64_t seed, int condition, std::int64_t replication, StreamPurpose purpose) {
    return make_stream(seed, static_cast<std::uint64_t>(condition), static_cast<std::uint64_t>(replication), purpose);
  }

  // 2.1: allocation and planned lengths, in patient order.
  void simulate_design(Cohort& out) {
    const auto& des = s_.design;
    const int J = static_cast<int>(des.therapists);
    const std::size_t N = static_cast<std::size_t>(des.patients);
    out.n_therapists = J;
    out.therapist.resize(N);
    out.offset.assign(1, 0);
    out.planned_sessions.resize(N);
    for (std::size_t i = 0; i < N; ++i) {
      out.therapist[i] = des.allocation == Allocation::Balanced ? static_cast<int>(i % J)
                                                                : static_cast<int>(draw_uniform_int(design_, 0, J - 1));
      out.planned_sessions[i] = planned_sessions(des.sessions, design_);
    }
  }

  // 2.2-2.4 and 2.5: the therapists' alliance and distress levels and repair skill (latent
  // stream), then each rater's leniency for the therapists (rater streams).
  void draw_therapist_effects(int J) {
    therapists_.resize(static_cast<std::size_t>(J));
    for (auto& th : therapists_) {
      th.alliance = draw_normal(latent_, s_.alliance.therapist_sd);
      th.distress = draw_normal(latent_, s_.distress.therapist_sd);
      th.repair_skill = draw_normal(latent_, s_.rupture.repair_skill_sd);
    }
    for (auto& rs : raters_) {
      rs.therapist_leniency.assign(static_cast<std::size_t>(J), 0.0);
      if (rs.therapist_rates)
        for (int j = 0; j < J; ++j) rs.therapist_leniency[j] = draw_normal(rs.eng, rs.params->leniency_sd);
    }
  }

  // 2.2-2.4 and 2.5: patient i's random effects and stationary starts, then the patient's part
  // of each rater's leniency; a new patient starts with no registered episode.
  PatientEffects draw_patient_effects() {
    PatientEffects p;
    p.alliance = draw_normal(latent_, s_.alliance.patient_sd);
    p.growth = draw_normal(latent_, s_.alliance.growth_sd);
    p.propensity = draw_normal(latent_, s_.rupture.propensity_sd);
    p.distress = draw_normal(latent_, s_.distress.patient_sd);
    p.trend = draw_normal(latent_, s_.distress.trend_sd);
    p.e = draw_normal(latent_, sd_e_);
    p.a = draw_normal(latent_, sd_a_);
    for (auto& rs : raters_) {
      rs.patient_leniency = draw_normal(rs.eng, rs.therapist_rates ? rs.params->dyad_sd : rs.params->leniency_sd);
      if (!rs.therapist_rates) rs.patient_leniency += draw_normal(rs.eng, rs.params->dyad_sd);
      rs.registered = false;
    }
    return p;
  }

  // 2.2 and 2.4: the AR parts of alliance (e) and distress (a) at session t > 1; a takes the
  // previous session's events.
  void step_dynamics(PatientState& st) {
    const auto& al = s_.alliance;
    const auto& di = s_.distress;
    const auto& fx = di.effects;
    st.e = al.ar * st.prev_e + draw_normal(latent_, al.innovation_sd);
    double drive = di.ar * st.a + fx.rupture * st.prev_onset + fx.repair * st.prev_repair +
                   fx.unresolved * st.prev_unresolved + fx.alliance * st.prev_e;
    // Added only when set, so the default model's sums are the same floating-point operations.
    if (fx.false_alarm != 0) drive += fx.false_alarm * st.prev_false_alarm;
    st.a = drive + draw_normal(latent_, di.innovation_sd);
  }

  // 2.7: the repair probability of the active episode, shifted when a rater registered it.
  double repair_probability(double repair_p, double skill) const {
    const auto& resp = s_.rupture.responsiveness;
    const double shift = (raters_[0].registered ? resp.patient : 0.0) + (raters_[1].registered ? resp.therapist : 0.0);
    if (shift == 0) return repair_p;
    return logistic(logit(s_.rupture.repair_probability) + skill + shift);
  }

  // 2.3: a repair of an open rupture, or (while intact from before) an onset with its depth; each
  // rater registers a new episode at its onset, one draw of the rater's registration stream (2.5),
  // so the registrations are known to the repair process and to next-session distress (2.7).
  SessionEvents step_rupture(PatientState& st, int t, double propensity, double repair_p, double skill, double zD) {
    const auto& ru = s_.rupture;
    SessionEvents ev;
    if (st.ruptured) {
      if (draw_bernoulli(latent_, repair_probability(repair_p, skill))) {
        ev.repair = true;
        st.ruptured = false;
        st.bonus += ru.repair_bonus;
        ev.effective_repair = felt(repair_via_, raters_[0].registered, raters_[1].registered);
      }
    } else if (t >= 2) {
      const double p = logistic(onset_logit_ + propensity + ru.distress_effect * zD);
      if (draw_bernoulli(latent_, p)) {
        ev.onset = true;
        st.ruptured = true;
        st.depth = draw_gamma_mean_sd(latent_, ru.depth_mean, ru.depth_sd);
        for (auto& rs : raters_) rs.registered = draw_bernoulli(rs.registration, rs.params->registration);
        ev.effective_onset = felt(rupture_via_, raters_[0].registered, raters_[1].registered);
      }
    }
    return ev;
  }

  // 2.5: a rater's rating after the session, given the stable alliance M.
  Rating rate(RaterState& rs, bool ruptured, double depth, double M, double zD, int j) {
    const Rater& rp = *rs.params;
    const double kappa = ruptured && rs.registered ? rp.sensitivity : 0.0;
    const double false_alarm = draw_bernoulli(rs.eng, rp.false_alarm_rate)
                                   ? draw_gamma_mean_sd(rs.eng, rp.false_alarm_depth, rp.false_alarm_depth_sd)
                                   : 0.0;
    const double leniency = rs.patient_leniency + (rs.therapist_rates ? rs.therapist_leniency[j] : 0.0);
    const double perceived = M - kappa * depth + rp.offset + leniency + rp.mood_congruence * zD - false_alarm +
                             draw_normal(rs.eng, rp.occasion_sd);
    return {observe_alliance(rp, rs.continuous, perceived, rs.eng), ruptured && rs.registered, false_alarm > 0};
  }

  // 2.1: whether the patient leaves after session t < T.
  bool draw_dropout(bool ruptured, double zD) {
    const auto& dr = s_.design.dropout;
    return draw_bernoulli(latent_, logistic(dropout_logit_ + dr.unresolved_rupture * ruptured + dr.distress * zD));
  }

  void simulate_patient(std::size_t i, Cohort& out) {
    const auto& al = s_.alliance;
    const auto& di = s_.distress;
    const int j = out.therapist[i];
    const TherapistEffects& th = therapists_[static_cast<std::size_t>(j)];
    const PatientEffects pe = draw_patient_effects();
    const double repair_p = logistic(logit(s_.rupture.repair_probability) + th.repair_skill);

    PatientState st;
    st.e = pe.e;
    st.a = pe.a;
    const int T = static_cast<int>(out.planned_sessions[i]);
    for (int t = 1; t <= T; ++t) {
      if (t > 1) step_dynamics(st);
      const double zD = sd_a_ > 0 ? st.a / sd_a_ : 0.0;
      const double D = di.mean + th.distress + pe.distress + (di.trend + pe.trend) * (t - 1) + st.a;
      const SessionEvents ev = step_rupture(st, t, pe.propensity, repair_p, th.repair_skill, zD);
      const double M = al.mean + th.alliance + pe.alliance + (al.growth + pe.growth) * growth_time(growth_shape_, t) +
                       st.e + st.bonus;
      const double A = M - (st.ruptured ? st.depth : 0.0);

      const Rating patient = rate(raters_[0], st.ruptured, st.depth, M, zD, j);
      const Rating therapist = rate(raters_[1], st.ruptured, st.depth, M, zD, j);

      out.patient.push_back(static_cast<int>(i));
      out.session.push_back(t);
      out.distress.push_back(observe_distress(di, distress_continuous_, D, measure_));
      out.alliance_patient.push_back(patient.score);
      out.alliance_therapist.push_back(therapist.score);
      out.true_alliance.push_back(A);
      out.true_distress.push_back(D);
      out.true_ruptured.push_back(st.ruptured);
      out.true_onset.push_back(ev.onset);
      out.true_repair.push_back(ev.repair);
      out.registered_patient.push_back(patient.registered);
      out.registered_therapist.push_back(therapist.registered);
      out.effective_onset.push_back(ev.effective_onset);
      out.effective_repair.push_back(ev.effective_repair);
      out.false_alarm_patient.push_back(patient.false_alarm);
      out.false_alarm_therapist.push_back(therapist.false_alarm);

      const bool leaves = t < T && draw_dropout(st.ruptured, zD);
      out.dropout.push_back(leaves);
      if (leaves) break;

      st.prev_onset = ev.effective_onset;
      st.prev_repair = ev.effective_repair;
      st.prev_false_alarm = patient.false_alarm;
      st.prev_unresolved = st.ruptured && !ev.onset;
      st.prev_e = st.e;
    }
  }

  const Scenario& s_;
  Engine design_, latent_, measure_;
  RaterState raters_[2];
  std::vector<TherapistEffects> therapists_;
  const GrowthShape growth_shape_;
  const bool distress_continuous_;
  const double onset_logit_, dropout_logit_;
  const double sd_e_, sd_a_;  // stationary sds of e and a
  const EventVia rupture_via_, repair_via_;
};

// The keys that enter each generated column (docs/model.md 2.2-2.5), named when a value overflows.
constexpr const char* kTrueAllianceKeys =
    "alliance.mean, alliance.therapist_sd, alliance.patient_sd, alliance.growth, alliance.growth_sd, alliance.ar, "
    "alliance.innovation_sd, rupture.depth_mean, rupture.depth_sd, rupture.repair_bonus";
constexpr const char* kTrueDistressKeys =
    "distress.mean, distress.therapist_sd, distress.patient_sd, distress.trend, distress.trend_sd, distress.ar, "
    "distress.innovation_sd, distress.effects.rupture, distress.effects.repair, distress.effects.unresolved, "
    "distress.effects.alliance, distress.effects.false_alarm";

std::string rater_keys(const char* rater) {
  std::string out;
  for (const char* k : {"offset", "leniency_sd", "dyad_sd", "sensitivity", "false_alarm_depth", "false_alarm_depth_sd",
                        "mood_congruence", "occasion_sd", "item_sd", "scale_min", "scale_max"})
    out += std::string(", raters.") + rater + "." + k;
  return out;
}

// One pass over the cohort's generated values (cheap beside drawing them): the first value that is
// not finite stops the command, naming the keys that enter it.
void check_finite(const Cohort& c, int condition, std::int64_t replication) {
  const std::pair<const std::vector<double>*, const char*> columns[] = {{&c.true_distress, "true_distress"},
                                                                        {&c.true_alliance, "true_alliance"},
                                                                        {&c.distress, "distress"},
                                                                        {&c.alliance_patient, "alliance_patient"},
                                                                        {&c.alliance_therapist, "alliance_therapist"}};
  for (const auto& [column, label] : columns) {
    const auto bad = std::find_if(column->begin(), column->end(), [](double x) { return !std::isfinite(x); });
    if (bad == column->end()) continue;
    const auto k = static_cast<std::size_t>(bad - column->begin());
    const std::string what = label;
    std::string keys;
    if (what == "true_distress" || what == "distress") keys = kTrueDistressKeys;
    else keys = kTrueAllianceKeys;
    if (what == "distress") keys += ", distress.item_sd";
    if (what == "alliance_patient") keys += rater_keys("patient");
    if (what == "alliance_therapist") keys += rater_keys("therapist");
    throw GeneratorError(
        locate("simulation", 0, what,
               "generated a value that is not finite (" + std::to_string(*bad) + ") in condition " +
                   std::to_string(condition) + ", replication " + std::to_string(replication) + ", patient " +
                   std::to_string(c.patient[k] + 1) + ", session " + std::to_string(c.session[k]) +
                   ": each key is in range but together they overflow; reduce the magnitude of " + keys));
  }
}

}  // namespace

void simulate_cohort(const Scenario& s, std::uint64_t seed, int condition, std::int64_t replication, Cohort& out) {
  CohortSimulation(s, seed, condition, replication).run(out);
  check_finite(out, condition, replication);
}

}  // namespace collabzium
