#pragma once
// The names of every choice the configuration knows: one enum per choice key, its configuration
// strings in the enum's order. Parsing, the summary, the docs and the sandbox (/api/scenario) read
// them from here, so a name is written once.
#include <span>
#include <string_view>

#include "collabzium/config/df_method.h"

namespace collabzium {

// The choice keys' values. Each is parsed once, by the key registry, into its enum; its names (the
// configuration strings, the README) are listed by choice_names in the enum's order.
#define COLLABZIUM_CHOICE_NAMES(Enum, ...)                      \
  inline std::span<const std::string_view> choice_names(Enum) { \
    static constexpr std::string_view names[] = {__VA_ARGS__};  \
    return names;                                               \
  }

enum class SessionDistribution { Fixed, Poisson, Uniform };
COLLABZIUM_CHOICE_NAMES(SessionDistribution, "fixed", "poisson", "uniform")
enum class Allocation { Balanced, Random };
COLLABZIUM_CHOICE_NAMES(Allocation, "balanced", "random")
enum class GrowthShape { Log, Linear };
COLLABZIUM_CHOICE_NAMES(GrowthShape, "log", "linear")
// How a questionnaire is answered: the mean of rounded items, or the continuous latent score.
enum class Response { Items, Continuous };
COLLABZIUM_CHOICE_NAMES(Response, "items", "continuous")
enum class DetectionRule { AbsoluteDrop, SdDrop, Rci, PercentDrop, SuddenLoss };
COLLABZIUM_CHOICE_NAMES(DetectionRule, "absolute_drop", "sd_drop", "rci", "percent_drop", "sudden_loss")
enum class SdReference { Differences, Person, Baseline };
COLLABZIUM_CHOICE_NAMES(SdReference, "differences", "person", "baseline")
enum class RepairMode { Return, Rise };
COLLABZIUM_CHOICE_NAMES(RepairMode, "return", "rise")
enum class TherapistTerm { None, Fixed, Random };
COLLABZIUM_CHOICE_NAMES(TherapistTerm, "none", "fixed", "random")
// Which events move distress (mechanisms): every latent event, or those of episodes registered by
// the patient, the therapist, at least one of them, or both.
enum class EventVia { Latent, Patient, Therapist, Either, Both };
COLLABZIUM_CHOICE_NAMES(EventVia, "latent", "patient", "therapist", "either", "both")
// The analysis models: their configuration and record names. What each kind fits (terms, raters,
// builder, true values) is its entry in analysis (model_kinds()), which checks its rows against
// these names; adding a kind is a value and a name here and an entry there.
enum class ModelKind { Lagged, Within, Oracle, Growth, Initial, Dsem };
COLLABZIUM_CHOICE_NAMES(ModelKind, "lagged", "within", "oracle", "growth", "initial", "dsem")
// [infer] (docs/model.md): the kinds of prior and of published finding.
enum class PriorKind { Uniform, LogUniform, Normal, Choice };
COLLABZIUM_CHOICE_NAMES(PriorKind, "uniform", "log_uniform", "normal", "choice")
// A published finding: a number within a tolerance, or the sign/significance of a coefficient.
enum class Finding { Number, Positive, Negative, Null, Any };
COLLABZIUM_CHOICE_NAMES(Finding, "number", "positive", "negative", "null", "any")
#undef COLLABZIUM_CHOICE_NAMES


}  // namespace collabzium
