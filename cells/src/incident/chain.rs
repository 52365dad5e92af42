//! The explanation chain: what each member keeps as evidence, and the snapshot of an
//! incident with its members ordered by onset (the first link is the probable root cause)
//! and the chain as one sentence.

use kafka_obs_signal::{Subject, situations};

use super::{Detail, Incident, IncidentId, IncidentState, Link, Member, Open};
use crate::{hierarchy::Hierarchy, view::ReadingView};

/// Readings kept as a member's evidence.
const EVIDENCE_PER_LINK: usize = 4;

impl Hierarchy {
    /// The readings that put a cell in trouble, worst first.
    pub(super) fn trouble_evidence(&self, idx: u32) -> Vec<ReadingView> {
        let c = &self.cells[idx as usize];
        let escalate = self.settings.escalate_confirmed_degraded;
        let mut troubled: Vec<_> = c
            .readings
            .iter()
            .filter(|r| r.live(self.now, self.settings.reading_ttl))
            .filter(|r| {
                r.status
                    .is_some_and(|s| s.situation(escalate) > situations::Sign::Normal)
            })
            .collect();
        troubled.sort_by(|x, y| y.status.cmp(&x.status).then(y.received.cmp(&x.received)));
        troubled
            .into_iter()
            .take(EVIDENCE_PER_LINK)
            .map(|r| self.reading_view(r))
            .collect()
    }

    /// Snapshot of an open incident by id.
    pub(crate) fn open_snapshot(&self, id: IncidentId) -> Option<Incident> {
        let inc = self.incidents.open.get(&id)?;
        Some(self.snapshot(inc, IncidentState::Open, None))
    }

    pub(super) fn snapshot(
        &self,
        inc: &Open,
        state: IncidentState,
        closed: Option<u64>,
    ) -> Incident {
        let mut listed: Vec<(&Member, &Detail)> = inc
            .members
            .iter()
            .filter_map(|m| m.detail.as_deref().map(|d| (m, d)))
            .collect();
        listed.sort_by(|a, b| a.0.onset.cmp(&b.0.onset).then(a.1.path.cmp(&b.1.path)));
        listed.truncate(self.settings.max_chain);
        let chain: Vec<Link> = listed
            .iter()
            .map(|(m, d)| Link {
                path: d.path.clone(),
                name: d.name.clone(),
                kind: d.kind,
                onset_unix_nano: m.onset,
                peak: m.peak,
                status: self
                    .slot(m.cell)
                    .and_then(|idx| self.cells[idx as usize].own),
                recovered: !m.troubled,
                evidence: d.evidence.clone(),
            })
            .collect();
        let explanation = chain
            .iter()
            .map(describe_link)
            .collect::<Vec<_>>()
            .join(" -> ");
        Incident {
            id: inc.id,
            cluster: inc.cluster.clone(),
            state,
            situation: inc.situation,
            opened_ns: inc.opened,
            updated_ns: closed.unwrap_or(inc.updated),
            closed_ns: closed,
            root_cause: chain.first().map(|l| l.path.clone()).unwrap_or_default(),
            unlisted: inc.members.len() - chain.len(),
            chain,
            explanation,
            notified: inc.notified,
            story: inc.story.as_deref().map(str::to_string),
        }
    }
}

/// The path without its cluster segment: `broker=2`, `service=order-service/instance=pod-1`.
pub(super) fn short_name(subject: &Subject) -> String {
    let segs = subject.segments();
    let start = segs
        .iter()
        .position(|s| s.level() == "cluster")
        .map_or(0, |i| i + 1);
    if start >= segs.len() {
        return subject.qualified();
    }
    Subject::from_pairs(segs[start..].iter().map(|s| (s.level(), s.value())))
        .map(|s| s.qualified())
        .unwrap_or_else(|_| subject.qualified())
}

/// `broker=2 DEGRADED (B1 under_replicated=2) at 2024-01-01T00:00:00.000Z`.
fn describe_link(link: &Link) -> String {
    let at = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(link.onset_unix_nano),
    );
    let mut text = format!("{} {}", link.name, link.peak.sign);
    if let Some(reading) = link.evidence.first() {
        text.push_str(" (");
        text.push_str(&reading.signal);
        if !reading.evidence.rule.is_empty() {
            text.push(' ');
            text.push_str(&reading.evidence.rule);
        }
        for (name, value) in reading.evidence.values.iter().take(3) {
            text.push_str(&format!(" {name}={}", kafka_obs_signal::Rounded(*value)));
        }
        text.push(')');
    }
    text.push_str(&format!(" at {at}"));
    text
}
