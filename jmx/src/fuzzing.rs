//! Entry points for fuzzing and corpus replay: feed arbitrary bytes through everything the
//! client does with a server's reply, so a fuzzer (or a test) can check that no input panics.
//!
//! Not part of the stable API.

use crate::client::{attributes_of, names_of};
use crate::error::RemoteException;
use crate::javaser::model::Ref;
use crate::javaser::{Limits, reader};
use crate::jrmp::{Outcome, RemoteRef, ReturnKind, parse_return};
use crate::value::{Converter, collection_elements, map_entries};

/// Small caps so a fuzzer explores limits quickly.
fn limits() -> Limits {
    Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
        max_handles: 50_000,
        ..Limits::default()
    }
}

/// Parses `data` as a JRMP `Return` (both as a value and as a void return) and interprets the
/// result every way the client would: stub, exception, collection, map and value conversion.
/// Returns how many bytes a successful parse used.
pub fn reply(data: &[u8]) -> Option<usize> {
    let mut used = None;
    for kind in [ReturnKind::Value, ReturnKind::Void] {
        if let Ok((message, n)) = parse_return(data, kind, &limits()) {
            // A value reply also parses as a void one (its header); the value reading wins.
            used = used.or(Some(n));
            let graph = &message.graph;
            let root = match message.outcome {
                Outcome::Value(v) | Outcome::Exception(v) => v,
                Outcome::Void => None,
            };
            let _ = RemoteRef::from_graph(graph, root);
            let _ = RemoteException::from_graph(graph, root).to_string();
            interpret(graph, root);
        }
    }
    used
}

/// Parses `data` as a `Return` with the client's production limits and reads it the way the
/// client reads its replies: as a `queryNames` answer and as a `getAttributes` answer (with
/// the reply's value budget). Returns the first error as text, for a fuzzer to tell inputs
/// apart by the check they reach.
pub fn production_reply(data: &[u8]) -> Result<(), String> {
    let (message, _) =
        parse_return(data, ReturnKind::Value, &Limits::default()).map_err(|e| e.to_string())?;
    let names = names_of(&message, "fuzz").map_err(|e| e.to_string());
    let requested = ["Value", "Count", "HeapMemoryUsage", "name"].map(String::from);
    let attributes = attributes_of(&message, &requested, "fuzz").map_err(|e| e.to_string());
    names.and(attributes).map(|_| ())
}

/// Decodes `data` as a plain serialization stream of objects and interprets each of them.
pub fn stream(data: &[u8]) {
    if let Ok((graph, roots)) = reader::read_all_objects(data, limits()) {
        for root in roots {
            interpret(&graph, root);
            let _ = RemoteRef::from_graph(&graph, root);
        }
    }
}

fn interpret(graph: &crate::javaser::Graph, root: Option<Ref>) {
    let mut converter = Converter::new(graph);
    let _ = converter.value(root);
    if let Some(r) = root {
        for element in collection_elements(graph, r).flatten() {
            let _ = converter.value(Some(element));
            let _ = graph.field_ref(element, "name");
        }
        let _ = map_entries(graph, r).count();
    }
    // Every node, as a value: covers nodes the root does not reach.
    for i in 0..graph.nodes.len().min(10_000) {
        if let Ok(i) = u32::try_from(i) {
            let _ = converter.value(Some(Ref(i)));
        }
    }
}
