//! What each client connection gets around pingora's proxy: HTTP/1.1 pipelining switched on
//! (pingora then answers every pipelined request, in order, instead of dropping all but the
//! first), and a deadline for each request head — a client that sends its head a byte at a
//! time, or keeps an idle connection open, is disconnected once `head_timeout_ms` has passed
//! without a whole head.
//!
//! The deadline is a task-local flag: the connection's task runs the proxy's phases itself, so
//! the gateway's first hook marks the head arrived ([`head_arrived`]). The timer is armed only
//! while a poll leaves the head still awaited, and dropped once it has arrived.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

tokio::task_local! {
    static HEAD_ARRIVED: Cell<bool>;
}

/// Mark the current request's head as arrived (called from the proxy's first phase).
pub fn head_arrived() {
    let _ = HEAD_ARRIVED.try_with(|arrived| arrived.set(true));
}

/// The head deadline in force: read at each request, so a reload changes it.
pub type HeadTimeout = Box<dyn Fn() -> Duration + Send + Sync>;

/// An HTTP app (pingora's proxy) with the edge's connection behaviour around it.
pub struct EdgeApp<A> {
    inner: Arc<A>,
    head_timeout: HeadTimeout,
}

impl<A> EdgeApp<A> {
    /// `inner` behind the edge, giving each request head `head_timeout()` to arrive.
    pub fn new(inner: A, head_timeout: HeadTimeout) -> Self {
        Self {
            inner: Arc::new(inner),
            head_timeout,
        }
    }
}

#[async_trait]
impl<A> HttpServerApp for EdgeApp<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if let ServerSession::H1(h1) = &mut session {
            h1.set_pipelining_enabled(true);
        }
        let deadline = (self.head_timeout)();
        HEAD_ARRIVED
            .scope(Cell::new(false), async {
                let mut request = std::pin::pin!(self.inner.process_new_http(session, shutdown));
                // The timer is armed only while the head is awaited: a request whose head came
                // with its first read (or whose head has arrived since) costs no timer, and a
                // request past its head is polled without one.
                let mut timer = std::pin::pin!(None);
                let timed_out = std::future::poll_fn(|cx| {
                    if let Poll::Ready(done) = request.as_mut().poll(cx) {
                        return Poll::Ready(Err(done));
                    }
                    if HEAD_ARRIVED.with(Cell::get) {
                        timer.set(None);
                        return Poll::Pending;
                    }
                    if timer.is_none() {
                        timer.set(Some(pingora_timeout::sleep(deadline)));
                    }
                    match timer.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
                        Some(Poll::Ready(())) => Poll::Ready(Ok(())),
                        _ => Poll::Pending,
                    }
                })
                .await;
                match timed_out {
                    Err(done) => done,
                    Ok(()) => {
                        log::debug!("no whole request head within {deadline:?}: connection closed");
                        None
                    }
                }
            })
            .await
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        self.inner.http_cleanup().await
    }
}
