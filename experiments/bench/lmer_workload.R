# The R side of the benchmark: the same analysis Collabzium runs per replication (lagged, within and
# growth models for both raters plus the oracle, REML, Satterthwaite df via lmerTest), on cohorts
# exported by `collabzium simulate` with events from `collabzium analyze --events`.
#   Rscript experiments/bench/lmer_workload.R DIR K
# prints the seconds per cohort.
suppressMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
k <- as.integer(args[2])

# `simulate` writes rows sorted by patient and session, as the events file is.
lag_rows <- function(d, rupture, repair, rating) {
  nxt <- match(paste(d$patient, d$session + 1), paste(d$patient, d$session))
  ok <- !is.na(nxt) & !is.na(d$distress) & !is.na(d$distress[nxt]) & !is.na(rating)
  out <- data.frame(patient = d$patient[ok], next_distress = d$distress[nxt[ok]],
                    rupture = rupture[ok], repair = repair[ok],
                    distress = d$distress[ok], session = d$session[ok])
  out
}

fit_all <- function(d, ev) suppressMessages({
  for (rater in c("patient", "therapist")) {
    e <- ev[ev$rater == rater, ]
    e <- e[match(paste(d$patient, d$session), paste(e$patient, e$session)), ]
    rating <- d[[paste0("alliance_", rater)]]
    l <- lag_rows(d, e$rupture, e$repair, rating)
    summary(lmer(next_distress ~ rupture + repair + distress + session + (1 | patient), l))
    l$distress_mean <- ave(l$distress, l$patient)
    l$distress_within <- l$distress - l$distress_mean
    summary(lmer(next_distress ~ rupture + repair + distress_within + distress_mean + session + (1 | patient), l))
    g <- data.frame(y = rating, growth = log(d$session), patient = d$patient)
    g <- g[!is.na(g$y), ]
    summary(lmer(y ~ growth + (1 | patient), g))
  }
  o <- lag_rows(d, d$true_onset, d$true_repair, rep(0, nrow(d)))
  summary(lmer(next_distress ~ rupture + repair + distress + session + (1 | patient), o))
})

cohorts <- lapply(seq_len(k), function(i) list(
  d = read.csv(file.path(dir, sprintf("cohort_%d.csv", i))),
  e = read.csv(file.path(dir, sprintf("events_%d.csv", i)))))
elapsed <- system.time(for (c in cohorts) fit_all(c$d, c$e))[["elapsed"]]
cat(sprintf("%.6f\n", elapsed / k))
