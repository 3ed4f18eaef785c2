//! What counting a call's usage costs (issue 13): one relaxed `fetch_add`
//! on the key's cell, alone, and from two threads on one key (the worst
//! case: every call of a busy service with one key) and on two keys.
//!
//! cargo bench --bench usage

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use pulse::auth::usage_counters::{Outcome, UsageCounters};

const CALLS: u64 = 20_000_000;

/// ns per count, from `threads` threads each counting `CALLS` times into
/// the cells `cell_of(thread)`.
fn run(label: &str, threads: usize, same_key: bool) {
    let counters = Arc::new(UsageCounters::default());
    let cells: Vec<_> = (0..threads)
        .map(|t| {
            let key = if same_key {
                "key_0".to_owned()
            } else {
                format!("key_{t}")
            };
            counters.cell(&key, "env_0")
        })
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for cell in &cells {
            s.spawn(move || {
                for _ in 0..CALLS {
                    black_box(cell).add(Outcome::Success);
                }
            });
        }
    });
    let per = start.elapsed().as_nanos() as f64 / CALLS as f64;
    println!("{label:<44} {per:>6.2} ns per count (per thread)");
}

fn main() {
    run("one thread", 1, true);
    run("two threads, one key (contended)", 2, true);
    run("two threads, two keys", 2, false);
}
