//! Fuzz target `station_config`: see `adapts_runtime::fuzzing::station_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adapts_runtime::fuzzing::station_config(data));
