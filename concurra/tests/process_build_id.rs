//! The build identity (`concurra::build_id`): the same in a worker, the same for a copy of
//! the executable at another path (another inode and time, as on another machine), where the
//! local engine's file fingerprint differs.

use std::process::Command;

use concurra::ProcessPoolExecutor;

concurra::worker_hook!();

fn my_build_id() -> String {
    concurra::build_id().unwrap().to_string()
}

/// Run as a child (below): prints the build id and nothing else of interest.
#[test]
fn print_build_id() {
    if std::env::var_os("PRINT_BUILD_ID").is_some() {
        println!("BUILD_ID={}", my_build_id());
    }
}

#[test]
fn a_worker_has_the_parents_build_id() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    assert_eq!(pool.call(my_build_id).unwrap(), my_build_id());
}

#[test]
fn a_copy_of_the_executable_has_the_same_build_id() {
    let me = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("concurra-build-id-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("copy");
    std::fs::copy(&me, &copy).unwrap();
    let out = Command::new(&copy)
        .args([
            "--exact",
            "print_build_id",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PRINT_BUILD_ID", "1")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("BUILD_ID=").map(|(_, id)| id.trim()))
        .unwrap_or_else(|| panic!("no build id in {stdout}"));
    assert_eq!(line, my_build_id());
    let id = my_build_id();
    assert!(id.starts_with("elf-") || id.starts_with("hash-"), "{id}");
}
