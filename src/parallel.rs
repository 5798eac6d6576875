//! Work spread over the machine's cores: one scoped thread per core, each taking a run of
//! the items, results in the items' order (for catalog files, which are checked independently
//! of one another), or two jobs at once (for the two address families of the location index).

/// `f` of every item, in order, computed on as many threads as there are cores.
pub(crate) fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                // A panic in `f` is a bug; it surfaces as it would have on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// `a()` and `b()` at the same time, `b` on a thread of its own.
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        match b.join() {
            Ok(b) => (a, b),
            // A panic in `b` is a bug; it surfaces as it would have on one thread.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `f` on every item, each item on one thread, as many threads as there are cores.
pub(crate) fn for_each_mut<T, F>(items: &mut [T], f: F)
where
    T: Send,
    F: Fn(&mut T) + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < 2 {
        items.iter_mut().for_each(f);
        return;
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks_mut(chunk)
            .map(|part| scope.spawn(move || part.iter_mut().for_each(f)))
            .collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_the_items() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            map(&items, |n| n * 2),
            items.iter().map(|n| n * 2).collect::<Vec<_>>()
        );
        assert_eq!(map(&[] as &[u32], |n| *n), Vec::<u32>::new());
    }

    #[test]
    fn reaches_every_item_once() {
        let mut items: Vec<u32> = (0..1000).collect();
        for_each_mut(&mut items, |n| *n *= 2);
        assert_eq!(items, (0..1000).map(|n| n * 2).collect::<Vec<_>>());
    }
}
