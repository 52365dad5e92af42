//! Fuzzes what the client does with a server's reply: JRMP `Return` parsing, the Java
//! serialization reader, and every interpretation (stubs, exceptions, values). Seed it with the
//! real replies: `cargo fuzz run reply ../tests/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kafka_obs_jmx::fuzzing::reply(data);
});
