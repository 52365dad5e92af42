//! Processors: what happens to data between receivers and exporters; and the `signals`
//! connector, which turns metrics into semantic signals.
//!
//! Each processor and connector lives in its own module, which offers its `FACTORY`
//! (`batch::FACTORY`, `signals::FACTORY`); the binary lists them.

pub mod batch;
pub mod filter;
mod in_place;
mod ottl_otlp;
pub mod signals;
pub mod transform;
