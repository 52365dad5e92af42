//! Semantic signals: Kafka client, broker, JVM and application metrics turned into Serventis
//! signals (`Queues OVERFLOW`, `Statuses DIVERGING` with confidence `MEASURED`, ...).
//!
//! A folder per feature, each with its own `config.rs` where it has keys of its own:
//!
//! - [`engine`]: the pure engine, `ExportMetricsServiceRequest` + now -> signals and status
//!   gauge points, with per-series state, change-of-state emission, heartbeats, staleness and
//!   bounded memory (`engine/`: `ingest.rs`, `rows.rs`, `subjects.rs`, `sweep.rs`, one per
//!   pass);
//! - [`condition`]: a rule's condition on one row, onset to recovery, kept by the engine;
//! - [`packs`]: the built-in rule packs (every rule of `docs/rules.md`), a folder each
//!   (`packs/producer/`, `consumer/`, `broker/`, `jvm/`, `targets/`): `mod.rs` with the
//!   metric-name table and the rules, `config.rs` with the pack's thresholds and their check;
//!   C4's Burrow-style lag window and C9's rebalance ring live in `packs/consumer/`;
//! - [`trend`]: the early-warning trend detector (P8, B5, user rules) and its keys;
//! - [`user`]: user rules from YAML for any metric, JMX or OTLP, and their grammar;
//! - [`state`]: trackers, hysteresis ladders, counters and series identity;
//! - [`config`]: the connector's YAML shape (packs on/off, confidence, subject levels, limits)
//!   and the range checks every `config.rs` uses;
//! - [`connector`]: the `signals` connector (metrics -> logs, metrics -> metrics).
//!
//! **Confidence.** Each rule states the confidence one poll's evidence supports (the rule
//! book's where it gives one: C1 DEGRADED CONFIRMED, C2 DIVERGING MEASURED, ...; MEASURED for
//! a reading past a threshold otherwise). Agreement across polls only raises it: the same
//! verdict for `confidence.measured_after` (2) consecutive polls is at least MEASURED, for
//! `confirmed_after` (3) CONFIRMED. This is used instead of the decayed scorecard of
//! `docs/vocabulary.md` because a rule's verdict is already de-flapped by hysteresis, and the
//! scorecard's twenty-vote memory takes about thirty polls to confirm a real change after a
//! long quiet period. C4 reads its confidence from how many readings of its window agree
//! with its verdict instead (see `lag`).
//!
//! **Hysteresis.** A state entered when a value crosses threshold `t` is left only once the
//! value is back past `t ∓ hysteresis·|t|` (default 5 %): buffer OVERFLOW entered above 0.95
//! is left at or below 0.9025, LIMIT (above 0.80) at or below 0.76.

pub mod condition;
pub mod config;
pub mod connector;
pub mod engine;
pub mod packs;
pub mod state;
pub mod trend;
pub mod user;

pub use config::SignalsConfig;
pub use connector::FACTORY;
pub use engine::{Engine, EngineStats, Evaluation};
