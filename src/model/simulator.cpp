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

// A rater's person-level state in a replication: leniency of each rating person.
struct RaterState {
  const Rater* params;   // the structural keys; the session-level ones come from the table
  bool therapist_rates;  // leniency belongs to the therapist, dyad effect to the patient
  bool continuous;       // response = "continuous"
  std::vector<double> therapist_leniency;
  double patient_leniency = 0;
};

// The engines of one replication after the design (docs/model.md, Random streams). Copied whole
// when a patient's sessions are simulated a second time (see ParameterTable).
struct Streams {
  Engine latent, measure;
  Engine rating[2], registration[2];  // per rater: patient, therapist
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

// Therapist j's random effects (docs/model.md 2.2-2.4): u_j, c_j and the repair skill k_j, the
// last standardized (each table entry scales it by its own repair_skill_sd).
struct TherapistEffects {
  double alliance = 0, distress = 0, repair_skill_z = 0;
};

// Patient i's random effects and the stationary start of the two autoregressive parts; the
// propensity standardized, as the skill.
struct PatientEffects {
  double alliance = 0, growth = 0, propensity_z = 0, distress = 0, trend = 0;
  double e = 0, a = 0;  // e_i1, a_i1
};

// What a patient's sessions take from a table entry and the person-level draws, computed again only
// when the entry changes (once per patient without an arm).
struct PatientConstants {
  const SessionParameters* params = nullptr;
  double propensity = 0, skill = 0;
  double repair_p = 0;  // without responsiveness
};

// What one patient carries from session to session.
struct PatientState {
  double e = 0, a = 0;  // AR parts of alliance and distress in the current session
  bool ruptured = false;
  double depth = 0, bonus = 0;
  bool registered[2] = {false, false};  // per rater: registers the current rupture episode
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

// Which entries a patient's sessions follow: the table's, or the base entry throughout.
enum class Path { Table, Base };

// One replication's simulation: its streams, the structural constants of the Scenario, the
// session-level ones from the ParameterTable (so the session loop compares no strings and takes
// no extra logs) and one function per sub-model of docs/model.md 2.
class CohortSimulation {
 public:
  CohortSimulation(const Scenario& s, const ParameterTable& table, std::uint64_t seed, int condition,
                   std::int64_t replication)
      : s_(s),
        table_(table),
        design_(stream(seed, condition, replication, StreamPurpose::Design)),
        streams_{stream(seed, condition, replication, StreamPurpose::Latent),
                 stream(seed, condition, replication, StreamPurpose::DistressMeasurement),
                 {stream(seed, condition, replication, StreamPurpose::PatientRater),
                  stream(seed, condition, replication, StreamPurpose::TherapistRater)},
                 {stream(seed, condition, replication, StreamPurpose::PatientRegistration),
                  stream(seed, condition, replication, StreamPurpose::TherapistRegistration)}},
        raters_{{&s.raters.patient, false, s.raters.patient.response == Response::Continuous, {}},
                {&s.raters.therapist, true, s.raters.therapist.response == Response::Continuous, {}}},
        growth_shape_(s.alliance.growth_shape),
        distress_continuous_(s.distress.response == Response::Continuous),
        sd_e_(s.alliance.innovation_sd / std::sqrt(1 - s.alliance.ar * s.alliance.ar)),
        sd_a_(s.distress.innovation_sd / std::sqrt(1 - s.distress.ar * s.distress.ar)) {}

  // `reference`, when given, receives the world in which every patient follows the base entry,
  // from the same person-level draws and streams.
  void run(Cohort& out, Cohort* reference) {
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
    if (reference) *reference = out;
    for (std::size_t i = 0; i < N; ++i) {
      simulate_patient(i, out, reference);
      out.offset.push_back(out.session.size());
      if (reference) reference->offset.push_back(reference->session.size());
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
    const bool skill = table_.draws_repair_skill();
    for (auto& th : therapists_) {
      th.alliance = draw_normal(streams_.latent, s_.alliance.therapist_sd);
      th.distress = draw_normal(streams_.latent, s_.distress.therapist_sd);
      th.repair_skill_z = skill ? detail::unit_normal(streams_.latent) : 0.0;
    }
    for (std::size_t r = 0; r < 2; ++r) {
      RaterState& rs = raters_[r];
      rs.therapist_leniency.assign(static_cast<std::size_t>(J), 0.0);
      if (rs.therapist_rates)
        for (int j = 0; j < J; ++j) rs.therapist_leniency[j] = draw_normal(streams_.rating[r], rs.params->leniency_sd);
    }
  }

  // 2.2-2.4 and 2.5: patient i's random effects and stationary starts, then the patient's part
  // of each rater's leniency. Nothing here reads the table's entries (see ParameterTable).
  PatientEffects draw_patient_effects() {
    Engine& latent = streams_.latent;
    PatientEffects p;
    p.alliance = draw_normal(latent, s_.alliance.patient_sd);
    p.growth = draw_normal(latent, s_.alliance.growth_sd);
    p.propensity_z = table_.draws_propensity() ? detail::unit_normal(latent) : 0.0;
    p.distress = draw_normal(latent, s_.distress.patient_sd);
    p.trend = draw_normal(latent, s_.distress.trend_sd);
    p.e = draw_normal(latent, sd_e_);
    p.a = draw_normal(latent, sd_a_);
    for (std::size_t r = 0; r < 2; ++r) {
      RaterState& rs = raters_[r];
      Engine& eng = streams_.rating[r];
      rs.patient_leniency = draw_normal(eng, rs.therapist_rates ? rs.params->dyad_sd : rs.params->leniency_sd);
      if (!rs.therapist_rates) rs.patient_leniency += draw_normal(eng, rs.params->dyad_sd);
    }
    return p;
  }

  // The person-level draws scaled as `p` says, as draw_normal(eng, sd) would have drawn them.
  static PatientConstants patient_constants(const SessionParameters& p, const PatientEffects& pe,
                                            const TherapistEffects& th) {
    PatientConstants pc;
    pc.params = &p;
    pc.propensity = pe.propensity_z * p.propensity_sd + 0.0;
    pc.skill = th.repair_skill_z * p.repair_skill_sd + 0.0;
    pc.repair_p = logistic(p.repair_logit + pc.skill);
    return pc;
  }

  // 2.2 and 2.4: the AR parts of alliance (e) and distress (a) at session t > 1; a takes the
  // previous session's events with the effects of that session's entry `p`.
  void step_dynamics(PatientState& st, const SessionParameters& p) {
    const auto& al = s_.alliance;
    const auto& di = s_.distress;
    const auto& fx = p.effects;
    st.e = al.ar * st.prev_e + draw_normal(streams_.latent, al.innovation_sd);
    double drive = di.ar * st.a + fx.rupture * st.prev_onset + fx.repair * st.prev_repair +
                   fx.unresolved * st.prev_unresolved + fx.alliance * st.prev_e;
    // Added only when set, so the default model's sums are the same floating-point operations.
    if (fx.false_alarm != 0) drive += fx.false_alarm * st.prev_false_alarm;
    st.a = drive + draw_normal(streams_.latent, di.innovation_sd);
  }

  // 2.7: the repair probability of the active episode, shifted when a rater registered it.
  static double repair_probability(const PatientState& st, const PatientConstants& pc) {
    const auto& resp = pc.params->responsiveness;
    const double shift = (st.registered[0] ? resp.patient : 0.0) + (st.registered[1] ? resp.therapist : 0.0);
    if (shift == 0) return pc.repair_p;
    return logistic(pc.params->repair_logit + pc.skill + shift);
  }

  // 2.3: a repair of an open rupture, or (while intact from before) an onset with its depth; each
  // rater registers a new episode at its onset, one draw of the rater's registration stream (2.5),
  // so the registrations are known to the repair process and to next-session distress (2.7).
  SessionEvents step_rupture(PatientState& st, int t, const PatientConstants& pc, double zD) {
    const SessionParameters& p = *pc.params;
    Engine& latent = streams_.latent;
    SessionEvents ev;
    if (st.ruptured) {
      if (draw_bernoulli(latent, repair_probability(st, pc))) {
        ev.repair = true;
        st.ruptured = false;
        st.bonus += p.repair_bonus;
        ev.effective_repair = felt(p.effects.repair_via, st.registered[0], st.registered[1]);
      }
    } else if (t >= 2) {
      if (draw_bernoulli(latent, logistic(p.onset_logit + pc.propensity + p.distress_effect * zD))) {
        ev.onset = true;
        st.ruptured = true;
        st.depth = draw_gamma_mean_sd(latent, p.depth_mean, p.depth_sd);
        for (std::size_t r = 0; r < 2; ++r)
          st.registered[r] = draw_bernoulli(streams_.registration[r], p.raters[r].registration);
        ev.effective_onset = felt(p.effects.rupture_via, st.registered[0], st.registered[1]);
      }
    }
    return ev;
  }

  // 2.5: rater r's rating after the session, given the stable alliance M.
  Rating rate(std::size_t r, const PatientState& st, const SessionParameters& p, double M, double zD, int j) {
    const RaterState& rs = raters_[r];
    const Rater& rp = *rs.params;
    const RaterSessionParameters& rsp = p.raters[r];
    Engine& eng = streams_.rating[r];
    const bool registered = st.ruptured && st.registered[r];
    const double kappa = registered ? rsp.sensitivity : 0.0;
    const double false_alarm = draw_bernoulli(eng, rsp.false_alarm_rate)
                                   ? draw_gamma_mean_sd(eng, rp.false_alarm_depth, rp.false_alarm_depth_sd)
                                   : 0.0;
    const double leniency = rs.patient_leniency + (rs.therapist_rates ? rs.therapist_leniency[j] : 0.0);
    const double perceived = M - kappa * st.depth + rp.offset + leniency + rp.mood_congruence * zD - false_alarm +
                             draw_normal(eng, rp.occasion_sd);
    return {observe_alliance(rp, rs.continuous, perceived, eng), registered, false_alarm > 0};
  }

  // 2.1: whether the patient leaves after session t < T.
  bool draw_dropout(const SessionParameters& p, bool ruptured, double zD) {
    return draw_bernoulli(streams_.latent,
                          logistic(p.dropout_logit + p.dropout_unresolved * ruptured + p.dropout_distress * zD));
  }

  // Patient i's person-level draws, then its sessions. A patient who leaves the base entry at
  // some session (or every patient, when the base world is asked for too) has its sessions run
  // twice from the same streams, the base path last, so that the streams go on to the next patient
  // as if every patient had followed the base entry (ParameterTable explains why).
  void simulate_patient(std::size_t i, Cohort& out, Cohort* reference) {
    const int j = out.therapist[i];
    const int T = static_cast<int>(out.planned_sessions[i]);
    const PatientEffects pe = draw_patient_effects();
    if (!reference && table_.base_throughout(i)) {
      simulate_sessions(i, j, T, pe, Path::Table, out);
      return;
    }
    const Streams start = streams_;
    simulate_sessions(i, j, T, pe, Path::Table, out);
    streams_ = start;
    if (!reference) scratch_.clear();
    simulate_sessions(i, j, T, pe, Path::Base, reference ? *reference : scratch_);
  }

  void simulate_sessions(std::size_t i, int j, int T, const PatientEffects& pe, Path path, Cohort& out) {
    const auto& al = s_.alliance;
    const auto& di = s_.distress;
    const TherapistEffects& th = therapists_[static_cast<std::size_t>(j)];
    PatientConstants pc;
    PatientState st;
    st.e = pe.e;
    st.a = pe.a;
    const SessionParameters* before = nullptr;  // the entry of session t - 1
    for (int t = 1; t <= T; ++t) {
      const SessionParameters& now = path == Path::Base ? table_.base() : table_.at(i, t);
      if (&now != pc.params) pc = patient_constants(now, pe, th);
      // Distress before session t is the outcome of sessions before it: their entry's effects and
      // slope.
      const SessionParameters& step = t > 1 ? *before : now;
      if (t > 1) step_dynamics(st, step);
      const double zD = sd_a_ > 0 ? st.a / sd_a_ : 0.0;
      double trend = (step.trend + pe.trend) * (t - 1);
      if (step.trend_shift != 0) trend += step.trend_shift;
      const double D = di.mean + th.distress + pe.distress + trend + st.a;
      const SessionEvents ev = step_rupture(st, t, pc, zD);
      const double M = al.mean + th.alliance + pe.alliance + (al.growth + pe.growth) * growth_time(growth_shape_, t) +
                       st.e + st.bonus;
      const double A = M - (st.ruptured ? st.depth : 0.0);

      const Rating patient = rate(0, st, now, M, zD, j);
      const Rating therapist = rate(1, st, now, M, zD, j);

      out.patient.push_back(static_cast<int>(i));
      out.session.push_back(t);
      out.distress.push_back(observe_distress(di, distress_continuous_, D, streams_.measure));
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

      const bool leaves = t < T && draw_dropout(now, st.ruptured, zD);
      out.dropout.push_back(leaves);
      if (leaves) break;

      st.prev_onset = ev.effective_onset;
      st.prev_repair = ev.effective_repair;
      st.prev_false_alarm = patient.false_alarm;
      st.prev_unresolved = st.ruptured && !ev.onset;
      st.prev_e = st.e;
      before = &now;
    }
  }

  const Scenario& s_;
  const ParameterTable& table_;
  Engine design_;
  Streams streams_;
  RaterState raters_[2];
  std::vector<TherapistEffects> therapists_;
  Cohort scratch_;  // the base path of a patient whose own entries differ, when no reference is kept
  const GrowthShape growth_shape_;
  const bool distress_continuous_;
  const double sd_e_, sd_a_;  // stationary sds of e and a
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

void simulate_cohort(const Scenario& s, const ParameterTable& table, std::uint64_t seed, int condition,
                     std::int64_t replication, Cohort& out, Cohort* reference) {
  CohortSimulation(s, table, seed, condition, replication).run(out, reference);
  check_finite(out, condition, replication);
  if (reference) check_finite(*reference, condition, replication);
}

void simulate_cohort(const Scenario& s, std::uint64_t seed, int condition, std::int64_t replication, Cohort& out) {
  simulate_cohort(s, ParameterTable(s), seed, condition, replication, out);
}

}  // namespace collabzium
