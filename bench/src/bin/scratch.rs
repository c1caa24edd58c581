use concurra::{Apply, Executor};
use std::time::Instant;
concurra::worker_hook!();
fn inc(x: u64) -> u64 {
    x + 1
}
fn threads(pid: u32) -> Vec<(String, u64, u64)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let p = e.unwrap().path();
        let comm = std::fs::read_to_string(p.join("comm"))
            .unwrap()
            .trim()
            .to_string();
        let st = std::fs::read_to_string(p.join("status")).unwrap();
        let get = |k: &str| {
            st.lines()
                .find(|l| l.starts_with(k))
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
        v.push((
            format!(
                "{pid}/{}:{comm}:{wchan}",
                p.file_name().unwrap().to_string_lossy()
            ),
            get("voluntary_ctxt_switches"),
            get("nonvoluntary_ctxt_switches"),
        ));
    }
    v
}
fn main() {
    let pool = concurra::ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    for i in 0..1000u64 {
        assert_eq!(pool.call(Apply(inc, i)).unwrap(), i + 1);
    }
    let me = std::process::id();
    let kids: Vec<u32> = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"))
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let snap = || {
        let mut v = threads(me);
        for &k in &kids {
            v.extend(threads(k));
        }
        v
    };
    let a = snap();
    let n = 20000u64;
    let t = Instant::now();
    let mode = std::env::var("MODE").unwrap_or_default();
    for i in 0..n {
        if mode == "submit" {
            assert_eq!(pool.submit(Apply(inc, i)).result().unwrap(), i + 1);
        } else {
            assert_eq!(pool.call(Apply(inc, i)).unwrap(), i + 1);
        }
    }
    let el = t.elapsed();
    let b = snap();
    println!(
        "{:.2} us per call",
        el.as_nanos() as f64 / n as f64 / 1000.0
    );
    for (x, y) in a.iter().zip(&b) {
        println!(
            "{:40} vol {:.2} invol {:.2}",
            x.0,
            (y.1 - x.1) as f64 / n as f64,
            (y.2 - x.2) as f64 / n as f64
        );
    }
}
