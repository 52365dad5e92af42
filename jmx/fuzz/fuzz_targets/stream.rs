//! Fuzzes the Java serialization reader on plain object streams (`AC ED 00 05 ...`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_obs_jmx::fuzzing::stream(data);
});
