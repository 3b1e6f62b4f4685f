#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| calmline_fuzz::targets::hub_events(data));
