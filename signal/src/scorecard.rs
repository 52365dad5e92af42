//! The confidence "scorecard" of `docs/vocabulary.md`: a decayed vote count per status, kept per
//! subject, that turns a stream of status readings into a leading status with a confidence.
//!
//! Every reading multiplies all buckets by `decay` (0.95) and adds `weight` (0.05) to the one
//! voted for, so old readings fade over roughly twenty votes. The leading status is
//! TENTATIVE while the total evidence is below `min_evidence` (0.25) or its share of it is
//! below `measured_share` (0.50), MEASURED up to `confirmed_share` (0.80), CONFIRMED at or
//! above it. A tie for the lead goes to the more severe status: when the evidence is split,
//! the scorecard errs on the side of attention.
//!
//! The state is seven `f64`s (56 bytes), cheap enough to keep for every subject.

use crate::languages::statuses::{Confidence, Sign};

/// The knobs of a [`Scorecard`]; [`Default`] gives the values of `docs/vocabulary.md`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScorecardParams {
    /// Factor every bucket is multiplied by on each reading (0.95).
    pub decay: f64,
    /// Amount added to the voted bucket on each reading (0.05).
    pub weight: f64,
    /// Total evidence below which the leader is only TENTATIVE (0.25).
    pub min_evidence: f64,
    /// Leader's share of the evidence from which it is MEASURED (0.50).
    pub measured_share: f64,
    /// Leader's share of the evidence from which it is CONFIRMED (0.80).
    pub confirmed_share: f64,
}

impl Default for ScorecardParams {
    fn default() -> Self {
        Self {
            decay: 0.95,
            weight: 0.05,
            min_evidence: 0.25,
            measured_share: 0.50,
            confirmed_share: 0.80,
        }
    }
}

/// Decayed votes per status for one subject. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    params: ScorecardParams,
    votes: [f64; Sign::ALL.len()],
}

impl Default for Scorecard {
    fn default() -> Self {
        Self::new(ScorecardParams::default())
    }
}

impl Scorecard {
    /// An empty scorecard (no leader yet).
    pub fn new(params: ScorecardParams) -> Self {
        Self {
            params,
            votes: [0.0; Sign::ALL.len()],
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &ScorecardParams {
        &self.params
    }

    /// Records one reading and returns the leading status with its confidence afterwards.
    pub fn vote(&mut self, status: Sign) -> (Sign, Confidence) {
        for bucket in &mut self.votes {
            *bucket *= self.params.decay;
        }
        self.votes[usize::from(status.rank())] += self.params.weight;
        // A bucket was just raised above zero, so there is a leader.
        self.leader().unwrap_or((status, Confidence::Tentative))
    }

    /// The leading status and its confidence; `None` before the first vote.
    pub fn leader(&self) -> Option<(Sign, Confidence)> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        // Iterating from least to most severe with `>=` lets the more severe status win ties.
        let mut best: Option<(Sign, f64)> = None;
        for &sign in Sign::ALL {
            let votes = self.votes[usize::from(sign.rank())];
            if votes > 0.0 && best.is_none_or(|(_, most)| votes >= most) {
                best = Some((sign, votes));
            }
        }
        let (sign, votes) = best?;
        Some((sign, self.confidence_for(votes / total, total)))
    }

    /// The decayed vote count of `status`.
    pub fn votes(&self, status: Sign) -> f64 {
        self.votes[usize::from(status.rank())]
    }

    /// The total decayed evidence over all statuses.
    pub fn total(&self) -> f64 {
        self.votes.iter().sum()
    }

    /// Forgets every vote.
    pub fn clear(&mut self) {
        self.votes = [0.0; Sign::ALL.len()];
    }

    fn confidence_for(&self, share: f64, total: f64) -> Confidence {
        let p = &self.params;
        if total < p.min_evidence || share < p.measured_share {
            Confidence::Tentative
        } else if share < p.confirmed_share {
            Confidence::Measured
        } else {
            Confidence::Confirmed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scorecard_has_no_leader() {
        assert_eq!(Scorecard::default().leader(), None);
    }

    #[test]
    fn one_reading_is_only_tentative() {
        let mut card = Scorecard::default();
        assert_eq!(
            card.vote(Sign::Degraded),
            (Sign::Degraded, Confidence::Tentative)
        );
    }

    #[test]
    fn agreement_builds_up_to_confirmed_after_about_six_votes() {
        let mut card = Scorecard::default();
        let confidences: Vec<_> = (0..8).map(|_| card.vote(Sign::Degraded).1).collect();
        // Total evidence after n unanimous votes is 1 - 0.95^n: 0.226 after 5, 0.265 after 6.
        assert!(confidences[..5].iter().all(|c| *c == Confidence::Tentative));
        assert_eq!(confidences[5], Confidence::Confirmed);
    }

    #[test]
    fn split_evidence_is_measured_or_tentative() {
        let mut card = Scorecard::default();
        for _ in 0..20 {
            card.vote(Sign::Stable);
        }
        for _ in 0..10 {
            card.vote(Sign::Degraded);
        }
        let (leader, confidence) = card.leader().unwrap_or((Sign::Down, Confidence::Confirmed));
        // Degraded: sum_{k<10} .05*.95^k = 0.401; Stable: 0.642*0.599 = 0.385 -> share 0.51.
        assert_eq!(leader, Sign::Degraded);
        assert_eq!(confidence, Confidence::Measured);
    }

    #[test]
    fn a_tie_goes_to_the_more_severe_status() {
        let params = ScorecardParams {
            decay: 1.0,
            ..ScorecardParams::default()
        };
        let mut card = Scorecard::new(params);
        card.vote(Sign::Down);
        card.vote(Sign::Stable);
        assert_eq!(card.leader().map(|l| l.0), Some(Sign::Down));
    }

    #[test]
    fn old_votes_fade() {
        let mut card = Scorecard::default();
        for _ in 0..40 {
            card.vote(Sign::Degraded);
        }
        for _ in 0..60 {
            card.vote(Sign::Stable);
        }
        assert_eq!(card.leader(), Some((Sign::Stable, Confidence::Confirmed)));
    }
}
