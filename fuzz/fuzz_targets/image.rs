//! Fuzz target `image`: see `adapts_runtime::fuzzing::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adapts_runtime::fuzzing::image(data));
