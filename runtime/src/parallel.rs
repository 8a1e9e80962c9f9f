//! Spreading independent examples over every core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `run(state, item)` for every item, on as many threads as the machine has
/// cores, each thread with its own `state` (made once by `make_state`, so
/// workers allocate nothing per item). Results come back in item order.
/// `progress` is called from the workers with the number of items done.
pub fn map_in_order<I: Sync, S, R: Send>(
    items: &[I],
    make_state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &I) -> R + Sync,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = make_state();
                let mut mine = Vec::new();
                loop {
                    let e = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(e) else { break };
                    mine.push((e, run(&mut state, item)));
                    progress(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
                // A poisoned lock means another worker panicked, which the
                // scope re-raises anyway; keep what we have either way.
                let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                all.append(&mut mine);
            });
        }
    });
    let mut all = results.into_inner().unwrap_or_else(|p| p.into_inner());
    all.sort_by_key(|(e, _)| *e);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_order() {
        let items: Vec<u64> = (0..1000).collect();
        let out = super::map_in_order(
            &items,
            || 0u64,
            |seen, &x| {
                *seen += 1;
                x * 2
            },
            &|_| {},
        );
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
