//! The OpenTelemetry Transformation Language (OTTL): statements such as
//! `set(attributes["env"], "prod") where resource.attributes["k8s.namespace.name"] == "shop"`
//! and conditions such as `IsMatch(metric.name, "^jvm\\.memory\\.pool\\.")`.
//!
//! Text is parsed once by a grammar ([`syntax`], on `winnow`) and compiled once to a typed tree
//! (paths resolved for a [`Context`], functions checked, regexes compiled); running a
//! [`Statement`] or [`Condition`] on a record never reads the text again. The crate knows
//! nothing of the collector's data: a processor implements [`Record`] and [`AttributeMap`] for
//! its own types. `docs/ottl.md` lists what exists; [`EDITORS`] and [`CONVERTERS`] are that
//! list in code.
//!
//! Why our own: crates.io has no OTTL crate (`cargo info ottl` finds none; the language lives in
//! the Collector's Go module `pkg/ottl`), so the grammar is written here on `winnow`, a
//! maintained parser-combinator crate already in the lock file.

mod compile;
mod path;
mod record;
pub mod syntax;
mod tree;
mod value;

pub use compile::{CONVERTERS, CompileError, Condition, EDITORS, Statement};
pub use path::{Context, Field, Key, Level, Path, enum_value};
pub use record::{AttributeMap, Record};
pub use tree::EvalError;
pub use value::Value;
