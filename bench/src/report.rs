//! Medians, ratios against concurra, and the printed table.

use crate::workloads::Workload;

/// One peer's samples: ns per op, one per round, or why it could not run.
pub struct Row {
    pub name: &'static str,
    pub ops: usize,
    pub samples: Result<Vec<f64>, String>,
}

/// The CPUs this process may run on (its affinity, which `taskset` sets).
pub struct Cpus {
    /// As the kernel prints it, e.g. `0-1`.
    pub list: String,
    pub count: usize,
}

pub fn allowed_cpus() -> Cpus {
    // `available_parallelism` honours the affinity mask on Linux.
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    let list = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| Some(line.strip_prefix("Cpus_allowed_list:")?.trim().to_owned()))
        })
        .unwrap_or_else(|| format!("{count} available"));
    Cpus { list, count }
}

/// The median; the mean of the two middle values for an even count.
pub fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "the median of no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Prints one workload's table. The first row is concurra, the baseline of the ratios.
pub fn print_table(workload: &Workload, rows: &[Row], rounds: usize, cpus: &Cpus) {
    let unit = workload.unit;
    println!("== {}: {}", workload.name, workload.about);
    let pinned = if cpus.count == 1 {
        "pinned"
    } else {
        "unpinned"
    };
    let plural = if rounds == 1 { "" } else { "s" };
    println!(
        "   CPUs {} ({pinned}); time per {unit}, median of {rounds} round{plural}",
        cpus.list
    );
    let baseline = rows
        .first()
        .and_then(|row| row.samples.as_ref().ok())
        .map(|s| median(s));
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    println!(
        "{:<name_width$}  {:>9}  {:>10}  {:>10}  {:>10}  {:>11}",
        "peer", "ops", "median", "min", "max", "vs concurra"
    );
    for row in rows {
        match &row.samples {
            Ok(samples) => {
                let med = median(samples);
                let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
                let max = samples.iter().copied().fold(0.0, f64::max);
                let ratio = baseline.map_or_else(|| "-".to_owned(), |b| fmt_ratio(med / b));
                println!(
                    "{:<name_width$}  {:>9}  {:>10}  {:>10}  {:>10}  {:>11}",
                    row.name,
                    row.ops,
                    fmt_ns(med),
                    fmt_ns(min),
                    fmt_ns(max),
                    ratio
                );
            }
            Err(e) => println!(
                "{:<name_width$}  {:>9}  unavailable: {e}",
                row.name, row.ops
            ),
        }
    }
    println!();
}

/// `812.3 ns`, `31.42 µs`, `1.20 ms`.
fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// Two decimals, more below 0.1 so that small ratios do not print as 0.00.
fn fmt_ratio(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.4}")
    } else {
        format!("{ratio:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_ns, fmt_ratio, median};

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(812.34), "812.3 ns");
        assert_eq!(fmt_ns(31_420.0), "31.42 µs");
        assert_eq!(fmt_ns(1_200_000.0), "1.20 ms");
        assert_eq!(fmt_ratio(1.0), "1.00");
        assert_eq!(fmt_ratio(0.0023), "0.0023");
    }
}
