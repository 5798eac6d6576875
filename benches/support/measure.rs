//! Ratios measured in one run on the same inputs: two implementations are timed in
//! alternation (A, B, A, B, ...) so that a noisy neighbour hurts both alike, and the medians
//! are compared.

#![allow(dead_code, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

/// Median nanoseconds per item of `ours` and `theirs` over `rounds` alternating passes.
pub(crate) fn alternate<T, A, B>(
    items: &[T],
    rounds: usize,
    mut ours: A,
    mut theirs: B,
) -> (f64, f64)
where
    A: FnMut(&T),
    B: FnMut(&T),
{
    let mut ours_ns = Vec::with_capacity(rounds);
    let mut theirs_ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for item in items {
            ours(black_box(item));
        }
        ours_ns.push(started.elapsed().as_nanos() as f64 / items.len() as f64);
        let started = Instant::now();
        for item in items {
            theirs(black_box(item));
        }
        theirs_ns.push(started.elapsed().as_nanos() as f64 / items.len() as f64);
    }
    (median(ours_ns), median(theirs_ns))
}

/// The item at `*at`, moving `at` on to the next, round to the first after the last. Without a
/// division: one would cost more than a lookup of ours, and each waits for the one before.
#[inline]
pub(crate) fn cycle<'a, T>(items: &'a [T], at: &mut usize) -> &'a T {
    let item = &items[*at];
    *at += 1;
    if *at == items.len() {
        *at = 0;
    }
    item
}

/// The median of some measurements.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Prints one comparison line.
pub(crate) fn report(what: &str, ours: f64, baseline_name: &str, theirs: f64) {
    println!(
        "ratio {what}: geoavail {ours:.1} ns, {baseline_name} {theirs:.1} ns -> {:.1}x faster",
        theirs / ours
    );
}
