//! End-to-end tests of the runtime crate against the real ONNX Runtime library.
//!
//! These need `vendor/onnxruntime/libonnxruntime.so` (run `scripts/setup.sh`) or
//! `ORT_DYLIB_PATH`; without the library they fail with the runtime's own message saying so.

mod bundle_v1;
mod cli_probe;
mod cli_run;
mod engine_ort;
mod fixture;
mod fuzz_corpus;
mod signature_openssl;
mod station_soak;
