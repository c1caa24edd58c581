//! A byte stream read by the frame decoder from a socket, written in pieces by another thread (its first two bytes choose their sizes); each frame decoded as its side would.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurra::process::fuzz::frames_read(data);
});
