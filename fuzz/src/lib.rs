//! calmline's fuzz targets. The bodies live in `targets.rs`, which `tests/fuzz_regressions.rs`
//! also compiles, so every input the fuzzer kept as a crash is replayed by `cargo test`.
pub mod targets;
