//! Fuzz target `camera_frame`: see `adapts_runtime::fuzzing::camera_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adapts_runtime::fuzzing::camera_frame(data));
