//! Fuzz target `manifest`: see `adapts_runtime::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adapts_runtime::fuzzing::manifest(data));
