//! Fuzz target `line_protocol`: see `adapts_runtime::fuzzing::line_protocol`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adapts_runtime::fuzzing::line_protocol(data));
