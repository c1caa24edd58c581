//! A call payload as a worker decodes it: the call's head, then the arguments of known functions (a fuzzed function identity is never resolved: see concurra/src/process/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurra::process::fuzz::worker_call(data);
});
