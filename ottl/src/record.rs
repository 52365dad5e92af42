//! The adapter contract: what a record (a span, a log record, a data point with the metric,
//! scope and resource around it) must offer for statements to run on it. The processors
//! implement it for their data; this crate never sees their types.

use crate::path::Path;
use crate::value::Value;

/// One object of the telemetry tree seen from a context.
pub trait Record {
    /// The value at `path` (`attributes["k"]` is that attribute); `Value::Nil` when absent.
    fn get(&self, path: &Path) -> Value;

    /// Writes `value` at `path`; an error says why the field cannot hold it.
    fn set(&mut self, path: &Path, value: Value) -> Result<(), String>;

    /// Lets `edit` change the map at `path` in place (the map editors: `delete_key`,
    /// `keep_keys`, `limit`, ...); `false` when the path is not a map.
    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool;
}

/// A string-keyed map the map editors change in place (attributes, a map-valued body).
pub trait AttributeMap {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &str) -> Option<Value>;

    /// Sets `key`, replacing a present value.
    fn insert(&mut self, key: &str, value: Value);

    /// Keeps the entries for which `keep(key)` is true, in order.
    fn retain(&mut self, keep: &mut dyn FnMut(&str) -> bool);

    /// Lets `edit` change every string value in place, with its key.
    fn edit_strings(&mut self, edit: &mut dyn FnMut(&str, &mut String));

    /// Lets `edit` change every key in place.
    fn edit_keys(&mut self, edit: &mut dyn FnMut(&mut String));
}
