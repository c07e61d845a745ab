//! Calling a plugin's phase: get an instance (warm or fresh), arm the deadline, call, check the
//! output, count the outcome, and keep the instance only if nothing went wrong.

use std::time::Instant;

use wasmtime::component::Instance;
use wasmtime::Store;

use super::bindings::authorizer::Decision;
use super::bindings::cache_policy::{CacheDecision, CacheRule};
use super::bindings::request_transformer::RequestAction;
use super::bindings::response_transformer::ResponseChanges;
use super::bindings::types::{RequestContext, RequestHead, Response, ResponseHead};
use super::bindings::validator::Verdict;
use super::host::HostState;
use super::Plugin;
use crate::metrics::METRICS;

/// Largest body a plugin may hand back (a response or a replacement body).
pub const MAX_PLUGIN_BODY: usize = 10 << 20;
/// Longest cache key a cache policy may choose.
const MAX_CACHE_KEY: usize = 1024;
/// Most warm instances kept per plugin with `isolation = "reuse"`.
const MAX_WARM: usize = 64;

/// Why a plugin call produced no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fault {
    /// The call ran past the plugin's deadline.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The instance trapped (panic, memory cap, bad import use) or could not be created.
    #[error("trapped: {0}")]
    Trap(String),
    /// The answer broke the rules (oversized body, invalid header).
    #[error("returned an invalid answer: {0}")]
    Invalid(String),
}

impl Fault {
    fn label(&self) -> &'static str {
        match self {
            Fault::Timeout(_) => "timeout",
            Fault::Trap(_) => "trap",
            Fault::Invalid(_) => "invalid",
        }
    }
}

/// A live instance and its store.
pub struct Live {
    store: Store<HostState>,
    instance: Instance,
}

impl Plugin {
    async fn instance(&self) -> Result<Live, Fault> {
        if self.settings.isolation.reuses() {
            let warm = self.warm.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(live) = warm {
                return Ok(live);
            }
        }
        let mut store = Store::new(self.pre.engine(), HostState::new(self.shared.clone()));
        store.limiter(|state| &mut state.limits);
        // Yield to the runtime every tick so a busy plugin never holds a worker thread; the
        // deadline is enforced by dropping the call.
        store.epoch_deadline_async_yield_and_update(1);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| Fault::Trap(format!("{e:#}")))?;
        Ok(Live { store, instance })
    }

    fn finish<R>(
        &self,
        phase: &str,
        started: Instant,
        live: Option<Live>,
        result: Result<R, Fault>,
    ) -> Result<R, Fault> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(fault) => fault.label(),
        };
        METRICS
            .plugin_calls
            .with_label_values(&[self.name.as_str(), phase, outcome])
            .inc();
        METRICS
            .plugin_latency
            .with_label_values(&[self.name.as_str(), phase])
            .observe(started.elapsed().as_secs_f64());
        match (&result, live) {
            (Ok(_), Some(live)) if self.settings.isolation.reuses() => {
                let mut warm = self.warm.lock().unwrap_or_else(|e| e.into_inner());
                if warm.len() < MAX_WARM {
                    warm.push(live);
                }
            }
            (Err(fault), _) => log::warn!("plugin `{}` {phase}: {fault}", self.name),
            _ => {}
        }
        result
    }
}

/// Call one phase export: `$indices` is the phase's optional `GuestIndices` field, `$call` the
/// generated `call_*` method, `$args` its arguments after the store; `$check` vets the answer
/// before the outcome is recorded (an answer that fails it counts as `invalid`).
macro_rules! call_phase {
    ($plugin:expr, $phase:literal, $indices:ident, $call:ident, $check:expr, $($args:expr),*) => {{
        let plugin: &Plugin = $plugin;
        let started = Instant::now();
        let result = match plugin.indices.$indices.as_ref() {
            None => Err((Fault::Trap(concat!("does not export ", $phase).into()), None)),
            Some(indices) => match plugin.instance().await {
                Err(fault) => Err((fault, None)),
                Ok(mut live) => {
                    let call = async {
                        let guest = indices.load(&mut live.store, &live.instance)?;
                        guest.$call(&mut live.store, $($args),*).await
                    };
                    match tokio::time::timeout(plugin.settings.timeout, call).await {
                        Ok(Ok(value)) => match $check(&value) {
                            Ok(()) => Ok((value, live)),
                            Err(fault) => Err((fault, None)),
                        },
                        Ok(Err(trap)) => Err((Fault::Trap(format!("{trap:#}")), None)),
                        Err(_) => Err((Fault::Timeout(plugin.settings.timeout), None)),
                    }
                }
            },
        };
        match result {
            Ok((value, live)) => plugin.finish($phase, started, Some(live), Ok(value)),
            Err((fault, live)) => plugin.finish($phase, started, live, Err(fault)),
        }
    }};
}

fn check_response(response: &Response) -> Result<(), Fault> {
    if !(100..=599).contains(&response.status) {
        return Err(Fault::Invalid(format!("status {}", response.status)));
    }
    check_body(Some(&response.body))
}

fn check_cache_decision(decision: &CacheDecision) -> Result<(), Fault> {
    let (CacheDecision::Cache(rule) | CacheDecision::Refresh(rule)) = decision else {
        return Ok(());
    };
    let CacheRule { key, ttl_seconds } = rule;
    if key.len() > MAX_CACHE_KEY {
        return Err(Fault::Invalid(format!(
            "a cache key of {} bytes (at most {MAX_CACHE_KEY})",
            key.len()
        )));
    }
    if u64::from(*ttl_seconds) > crate::cache::MAX_TTL.as_secs() {
        return Err(Fault::Invalid(format!(
            "a TTL of {ttl_seconds} s (at most {})",
            crate::cache::MAX_TTL.as_secs()
        )));
    }
    Ok(())
}

fn check_body(body: Option<&Vec<u8>>) -> Result<(), Fault> {
    match body {
        Some(body) if body.len() > MAX_PLUGIN_BODY => Err(Fault::Invalid(format!(
            "a body of {} bytes (at most {MAX_PLUGIN_BODY})",
            body.len()
        ))),
        _ => Ok(()),
    }
}

impl Plugin {
    /// The request body as this plugin may see it: only when its manifest asks for it.
    fn request_body<'b>(&self, body: Option<&'b [u8]>) -> Option<&'b [u8]> {
        body.filter(|_| self.needs_request_body)
    }

    /// Authorizer phase.
    pub async fn authorize(
        &self,
        request: &RequestHead,
        body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> Result<Decision, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            "authorizer",
            authorizer,
            call_authorize,
            |decision: &Decision| match decision {
                Decision::Respond(response) => check_response(response),
                _ => Ok(()),
            },
            request,
            body,
            ctx
        )
    }

    /// Validator phase.
    pub async fn validate(
        &self,
        request: &RequestHead,
        body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> Result<Verdict, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            "validator",
            validator,
            call_validate,
            |_: &Verdict| Ok(()),
            request,
            body,
            ctx
        )
    }

    /// Request-transformer phase.
    pub async fn transform_request(
        &self,
        request: &RequestHead,
        body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> Result<RequestAction, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            "request-transformer",
            request_transformer,
            call_transform_request,
            |action: &RequestAction| match action {
                RequestAction::Respond(response) => check_response(response),
                RequestAction::Continue(changes) => check_body(changes.body.as_ref()),
            },
            request,
            body,
            ctx
        )
    }

    /// Response-transformer phase; `body` is given for responses the gateway holds whole, and
    /// passed on when the manifest asks for it.
    pub async fn transform_response(
        &self,
        response: &ResponseHead,
        body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> Result<ResponseChanges, Fault> {
        let body = body.filter(|_| self.needs_response_body);
        call_phase!(
            self,
            "response-transformer",
            response_transformer,
            call_transform_response,
            |changes: &ResponseChanges| check_body(changes.body.as_ref()),
            response,
            body,
            ctx
        )
    }

    /// Cache-policy phase.
    pub async fn decide_cache(
        &self,
        request: &RequestHead,
        ctx: &RequestContext,
    ) -> Result<CacheDecision, Fault> {
        call_phase!(
            self,
            "cache-policy",
            cache_policy,
            call_decide,
            check_cache_decision,
            request,
            ctx
        )
    }
}
