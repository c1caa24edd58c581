//! A byte stream given to the frame decoder in pieces (its first two bytes choose their sizes); each frame decoded as its side would (a call as the worker, a reply as the parent).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurra::process::fuzz::frames_pushed(data);
});
