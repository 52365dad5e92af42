//! Processors: what happens to data between receivers and exporters; and the `signals`
//! connector, which turns metrics into semantic signals.
//!
//! Each processor and connector lives in its own module, which offers its `FACTORY`
//! (`batch::FACTORY`, `signals::FACTORY`); the binary lists them. `attraction` is the attribute
//! action engine `resource` and `attributes` share; `per_parcel` runs the processors that
//! handle each parcel on its own and counts what they see.

pub mod attraction;
pub mod attributes;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
mod ottl_otlp;
mod per_parcel;
pub mod resource;
pub mod signals;
pub mod transform;
