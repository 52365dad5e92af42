//! Unit tests of our own logic: config keys, time-lag math, reply decoding, conversion.
