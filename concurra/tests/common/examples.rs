//! The built examples, for the tests that run them as a user would.

use std::path::PathBuf;

/// The path of the built example `name`: `cargo test` builds the examples first; a targeted
/// `cargo test --test <file>` needs `cargo build --examples` before.
pub(crate) fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test` (or `cargo build --examples`) first",
        path.display()
    );
    path
}
