//! Incident ids that survive restarts across tiers. A *story* is the key of the incident
//! where the trouble was first grouped: `<hierarchy id>#<incident id>@<opened ns>` at the
//! hierarchy that opened it from its own cells, passed on unchanged by every tier above. A
//! parent whose incident opens on a federated cell takes its id from that story, so a
//! parent that restarts (or gets a resend) rebuilds the same id, and its notifications carry
//! the same `incident_id` label and dedupe key. Local incidents keep their counter ids.

use std::hash::Hasher;

use crate::hash::FxHasher;
use crate::incident::IncidentId;

/// Story-derived ids live in `[2^52, 2^53)`: above any counter id an engine reaches, and
/// still exact as a JSON number in a browser.
const STORY_BASE: IncidentId = 1 << 52;

/// The story key of an incident a hierarchy opened from its own cells.
pub fn local_key(hierarchy: &str, id: IncidentId, opened_ns: u64) -> String {
    format!("{hierarchy}#{id}@{opened_ns}")
}

/// The parent's incident id for a story: the same story always gives the same id.
pub fn incident_id(story: &str) -> IncidentId {
    let mut h = FxHasher::default();
    h.write(story.as_bytes());
    STORY_BASE | (h.finish() & (STORY_BASE - 1))
}

/// Whether `id` was derived from a story (a federated incident) rather than counted.
pub fn is_story_id(id: IncidentId) -> bool {
    id >= STORY_BASE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_always_gives_the_same_id_and_stories_differ() {
        let a = local_key("sidecar-eu", 1, 1_700_000_000_000_000_000);
        assert_eq!(incident_id(&a), incident_id(&a.clone()));
        assert!(is_story_id(incident_id(&a)));
        assert!(incident_id(&a) < (1 << 53));
        // The same counter id after the child restarted is another story.
        let b = local_key("sidecar-eu", 1, 1_700_000_100_000_000_000);
        assert_ne!(incident_id(&a), incident_id(&b));
        assert!(!is_story_id(1));
    }
}
