//! Bench: signals per second into a tree of 100 000 cells (filled in after the API commit).
fn main() {}
