//! The deterministic fault simulator over many seeds (`sim.rs`).
//!
//! `seeds` runs `MULTIVERSE_SIM_SEEDS` (default 200) seeds from
//! `MULTIVERSE_SIM_FIRST` (default 0); `replay` runs the one seed in
//! `MULTIVERSE_SIM_SEED` (a failure prints the command). A longer run:
//!
//! ```text
//! MULTIVERSE_SIM_SEEDS=20000 cargo test --release -p multiverse-cluster --test sim seeds -- --nocapture
//! ```

use multiverse_cluster::sim::{run_seed, Sim, SimConfig, SimSummary};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

#[test]
fn seeds() {
    let first = env("MULTIVERSE_SIM_FIRST").unwrap_or(0);
    let count = env("MULTIVERSE_SIM_SEEDS").unwrap_or(200);
    let config = SimConfig::default();
    let mut total = SimSummary::default();
    for seed in first..first + count {
        total.add(&run_seed(seed, &config));
    }
    println!("sim seeds {first}..{}: {total}", first + count);
    assert!(total.acked_2pc > 0 && total.crashes > 0 && total.scans > 0);
}

#[test]
fn a_seed_replays_exactly() {
    let config = SimConfig::default();
    for seed in [7, 8] {
        assert_eq!(
            run_seed(seed, &config),
            run_seed(seed, &config),
            "seed {seed}"
        );
    }
}

#[test]
fn replay() {
    let Some(seed) = env("MULTIVERSE_SIM_SEED") else {
        return;
    };
    let summary = run_seed(seed, &SimConfig::default());
    println!("sim seed {seed}: {summary}");
}

/// The negative control: with a disk that loses synced bytes in a crash,
/// acknowledged commits get lost, and the checker must say so.
#[test]
fn a_disk_that_loses_synced_writes_is_caught() {
    let config = SimConfig {
        faulty_disk: true,
        ..SimConfig::default()
    };
    let caught: Vec<(u64, String)> = (0..20)
        .filter_map(|seed| Some((seed, Sim::new(seed, config.clone()).run().err()?)))
        .collect();
    println!(
        "faulty disk caught in {} of 20 seeds: {caught:?}",
        caught.len()
    );
    assert!(caught.len() >= 10, "{caught:?}");
}
