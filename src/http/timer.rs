//! The header-read timer of one HTTP/1 connection.
//!
//! hyper asks its timer for a fresh sleep each time it waits for a request's headers and drops
//! it once they have arrived: with tokio's own sleep that is a registration in the runtime's
//! timer wheel and a removal, under its lock, for every request on a kept-alive connection.
//! Here a connection keeps one tokio sleep armed; each request's deadline only moves the
//! point it is checked against, and the sleep is re-armed when it fires early. The limit
//! itself is unchanged: headers that take longer than their deadline are cut off.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The timer hyper is given for one connection's header reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionTimer {
    armed: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline {
            deadline: tokio::time::Instant::from_std(deadline),
            armed: Arc::clone(&self.armed),
        })
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// One request's deadline, checked with the connection's sleep.
#[derive(Debug)]
struct Deadline {
    deadline: tokio::time::Instant,
    armed: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Sleep for Deadline {}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        // Only the connection's own task polls it: the lock is never contended.
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        let sleep = armed.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if tokio::time::Instant::now() >= deadline => {
                    return Poll::Ready(());
                }
                // It was armed for an earlier request's deadline.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_fires_at_its_time_and_not_before() {
        let timer = ConnectionTimer::default();
        let start = timer.now();
        let mut first = timer.sleep_until(start + Duration::from_secs(10));
        assert!(poll_once(first.as_mut()).await.is_pending());
        drop(first);
        // The connection's sleep is now armed for ten seconds; a later request's deadline
        // must not fire then.
        tokio::time::advance(Duration::from_secs(5)).await;
        let second = timer.sleep_until(timer.now() + Duration::from_secs(10));
        let mut second = std::pin::pin!(second);
        assert!(poll_once(second.as_mut()).await.is_pending());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(poll_once(second.as_mut()).await.is_pending());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(poll_once(second.as_mut()).await.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_than_the_armed_one_still_fires() {
        let timer = ConnectionTimer::default();
        let mut long = timer.sleep_until(timer.now() + Duration::from_secs(60));
        assert!(poll_once(long.as_mut()).await.is_pending());
        drop(long);
        let short = timer.sleep_until(timer.now() + Duration::from_secs(1));
        let started = tokio::time::Instant::now();
        short.await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    /// Polls `future` once.
    async fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
        let mut future = Some(future);
        std::future::poll_fn(|cx| Poll::Ready(future.take().unwrap().poll(cx))).await
    }
}
