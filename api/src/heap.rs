//! The process's live heap: bytes allocated and not yet freed, when the binary counts its
//! allocations (`cli/src/main.rs` installs a counting global allocator and this reader at
//! start). Components that need the figure (the `memory_limiter`) read it here, so they never
//! depend on the binary.
//!
//! Why not the resident set size: the allocator keeps freed memory mapped for reuse, so RSS
//! stays high after the data it held is gone, and a limit on it would never reopen (the
//! `memory_limiter`'s recovery test showed RSS still 115 MiB a minute after its queue drained).
//! The live heap falls as soon as the data is dropped; it is also what the Collector's limiter
//! measures (Go's `HeapAlloc`).

use std::sync::OnceLock;

static READER: OnceLock<fn() -> u64> = OnceLock::new();

/// Called once by the binary, before anything is built. A second call is ignored.
pub fn install_reader(reader: fn() -> u64) {
    let _ = READER.set(reader);
}

/// Live heap bytes, or `None` in a process that does not count its allocations (tests).
pub fn live_bytes() -> Option<u64> {
    READER.get().map(|read| read())
}
