//! The binary's library half: the one list of components ([`components`]), shared with the
//! fuzzer so it validates configs exactly as `kafka-obs validate` does.

pub mod components;
