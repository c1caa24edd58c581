//! A reply payload as the parent decodes it: a value's Outcome<T>, a fallible function's Result<T, RemoteError>, a chunk of a map, the initializer's reply.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurra::process::fuzz::parent_reply(data);
});
