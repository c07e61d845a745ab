//! Calling a plugin's phase: get an instance (warm or fresh), arm the deadline, call, check the
//! output, count the outcome, and keep the instance only if nothing went wrong. Warm instances
//! keep their typed exports and each plugin its metric series, so a warm call looks nothing up.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus::{Histogram, IntCounter};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

use super::bindings::authorizer::Decision;
use super::bindings::cache_policy::CacheDecision;
use super::bindings::request_transformer::RequestAction;
use super::bindings::response_transformer::ResponseChanges;
use super::bindings::validator::Verdict;
use super::bindings::{
    authorizer, cache_policy, request_transformer, response_transformer, validator,
};
use super::context::RequestContext;
use super::heads::{LentHead, RequestView, ResponseView};
use super::host::{new_store, HostState, Lent};
use super::output;
use super::phase::Phase;
use super::ticker::Ticking;
use super::{ComponentCode, Plugin};
use crate::metrics::METRICS;

/// Why a plugin call produced no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fault {
    /// The call ran past the plugin's deadline.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The instance trapped (panic, memory cap, bad import use) or could not be created.
    #[error("trapped: {0}")]
    Trap(String),
    /// The answer broke the rules of [`output`](super::output) (too many headers, an invalid
    /// name, an oversized body, ...).
    #[error("returned an invalid answer: {0}")]
    Invalid(String),
}

/// The metric series of one plugin in one phase, resolved at its first call instead of looking
/// labels up on every call.
struct PhaseMetrics {
    ok: IntCounter,
    timeout: IntCounter,
    trap: IntCounter,
    invalid: IntCounter,
    latency: Histogram,
}

impl PhaseMetrics {
    fn new(plugin: &str, phase: Phase) -> Self {
        let calls = |outcome| {
            METRICS
                .plugin_calls
                .with_label_values(&[plugin, phase.name(), outcome])
        };
        Self {
            ok: calls("ok"),
            timeout: calls("timeout"),
            trap: calls("trap"),
            invalid: calls("invalid"),
            latency: METRICS
                .plugin_latency
                .with_label_values(&[plugin, phase.name()]),
        }
    }

    fn outcome(&self, result: Result<(), &Fault>) -> &IntCounter {
        match result {
            Ok(()) => &self.ok,
            Err(Fault::Timeout(_)) => &self.timeout,
            Err(Fault::Trap(_)) => &self.trap,
            Err(Fault::Invalid(_)) => &self.invalid,
        }
    }
}

/// Per-phase metric series of one plugin.
#[derive(Default)]
pub struct CallMetrics([OnceLock<PhaseMetrics>; Phase::ALL.len()]);

/// The typed exports of one instance, looked up at its first call of each phase.
#[derive(Default)]
struct Guests {
    authorizer: Option<authorizer::Guest>,
    validator: Option<validator::Guest>,
    request_transformer: Option<request_transformer::Guest>,
    response_transformer: Option<response_transformer::Guest>,
    cache_policy: Option<cache_policy::Guest>,
}

/// A live instance, its store, and the exports looked up so far.
pub struct Live {
    store: Store<HostState>,
    instance: Instance,
    guests: Guests,
}

impl Plugin {
    /// A warm instance or a fresh one, armed to trap at `started` plus the plugin's timeout.
    async fn instance(&self, code: &ComponentCode, started: Instant) -> Result<Live, Fault> {
        let deadline = started + self.settings.timeout;
        if self.settings.isolation.reuses() {
            if let Some(mut live) = code.warm.take() {
                live.store.data_mut().deadline = deadline;
                live.store.set_epoch_deadline(1);
                return Ok(live);
            }
        }
        let mut store = new_store(code.pre.engine(), code.shared.clone(), deadline);
        let instance = code
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.fault_of(e))?;
        Ok(Live {
            store,
            instance,
            guests: Guests::default(),
        })
    }

    /// The fault a wasmtime error stands for: the deadline trap is a timeout.
    fn fault_of(&self, error: wasmtime::Error) -> Fault {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault::Timeout(self.settings.timeout),
            _ => Fault::Trap(format!("{error:#}")),
        }
    }

    /// Count and time a call in `phase` that started at `started`, and log its fault.
    pub(super) fn count_call(&self, phase: Phase, started: Instant, result: Result<(), &Fault>) {
        let metrics =
            self.metrics.0[phase as usize].get_or_init(|| PhaseMetrics::new(&self.name, phase));
        metrics.outcome(result).inc();
        metrics.latency.observe(started.elapsed().as_secs_f64());
        if let Err(fault) = result {
            log::warn!("plugin `{}` {}: {fault}", self.name, phase.name());
        }
    }

    /// Count and time the call, log a fault, and keep a healthy warm instance.
    fn finish<R>(
        &self,
        code: &ComponentCode,
        phase: Phase,
        started: Instant,
        result: Result<(R, Live), Fault>,
    ) -> Result<R, Fault> {
        self.count_call(phase, started, result.as_ref().map(|_| ()));
        let (value, live) = result?;
        if self.settings.isolation.reuses() {
            code.warm.give_back(live);
        }
        Ok(value)
    }
}

/// Call one phase export: `$guest` names the phase's field in [`PhaseIndices`] and [`Guests`],
/// `$call` the generated `call_*` method with its arguments `$args`; `$lent` (a [`Lent`]) is what
/// the call may read through the head and context imports; `$check` vets the answer before the
/// outcome is recorded (an answer that fails it counts as `invalid`).
macro_rules! call_phase {
    ($plugin:expr, $phase:expr, $guest:ident, $call:ident, $check:expr, $lent:expr, $($args:expr),*) => {{
        let plugin: &Plugin = $plugin;
        let _ticking = Ticking::start();
        let started = Instant::now();
        let Some(code) = plugin.component() else {
            return Err(Fault::Trap("a proxy-wasm filter has no phase exports".into()));
        };
        let result = match code.indices.$guest.as_ref() {
            None => Err(Fault::Trap(format!("does not export {}", $phase.name()))),
            Some(indices) => match plugin.instance(code, started).await {
                Err(fault) => Err(fault),
                Ok(mut live) => {
                    let answer = async {
                        let guest = match &live.guests.$guest {
                            Some(guest) => guest,
                            None => live
                                .guests
                                .$guest
                                .insert(indices.load(&mut live.store, &live.instance)?),
                        };
                        live.store.data_mut().lend($lent);
                        let answer = guest.$call(&mut live.store, $($args),*).await;
                        live.store.data_mut().take_back();
                        answer
                    }
                    .await;
                    match answer {
                        Ok(value) => $check(&value).map(|()| (value, live)),
                        Err(error) => Err(plugin.fault_of(error)),
                    }
                }
            },
        };
        plugin.finish(code, $phase, started, result)
    }};
}

impl Plugin {
    /// The request body as this plugin may see it: only when its manifest asks for it.
    fn request_body<'b>(&self, body: Option<&'b [u8]>) -> Option<&'b [u8]> {
        body.filter(|_| self.needs_request_body)
    }

    /// What a request phase of this plugin may read: the request head (only the headers its
    /// manifest lists, if it does) and the context.
    fn lend_request(&self, request: &Arc<RequestView>, ctx: &Arc<RequestContext>) -> Lent {
        Lent {
            request: Some(LentHead::new(request, &self.request_headers)),
            response: None,
            context: Some(ctx.clone()),
        }
    }

    /// Authorizer phase.
    pub async fn authorize(
        &self,
        request: &Arc<RequestView>,
        body: Option<&[u8]>,
        ctx: &Arc<RequestContext>,
    ) -> Result<Decision, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            Phase::Authorizer,
            authorizer,
            call_authorize,
            output::check_decision,
            self.lend_request(request, ctx),
            body
        )
    }

    /// Validator phase.
    pub async fn validate(
        &self,
        request: &Arc<RequestView>,
        body: Option<&[u8]>,
        ctx: &Arc<RequestContext>,
    ) -> Result<Verdict, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            Phase::Validator,
            validator,
            call_validate,
            output::check_verdict,
            self.lend_request(request, ctx),
            body
        )
    }

    /// Request-transformer phase.
    pub async fn transform_request(
        &self,
        request: &Arc<RequestView>,
        body: Option<&[u8]>,
        ctx: &Arc<RequestContext>,
    ) -> Result<RequestAction, Fault> {
        let body = self.request_body(body);
        call_phase!(
            self,
            Phase::RequestTransformer,
            request_transformer,
            call_transform_request,
            output::check_request_action,
            self.lend_request(request, ctx),
            body
        )
    }

    /// Response-transformer phase; `body` is given for responses the gateway holds whole, and
    /// passed on when the manifest asks for it.
    pub async fn transform_response(
        &self,
        response: &Arc<ResponseView>,
        body: Option<&[u8]>,
        ctx: &Arc<RequestContext>,
    ) -> Result<ResponseChanges, Fault> {
        let body = body.filter(|_| self.needs_response_body);
        call_phase!(
            self,
            Phase::ResponseTransformer,
            response_transformer,
            call_transform_response,
            output::check_response_changes,
            Lent {
                request: None,
                response: Some(LentHead::new(response, &self.response_headers)),
                context: Some(ctx.clone()),
            },
            body
        )
    }

    /// Cache-policy phase (`cache-policy.decide`): how to cache the request, if at all.
    pub async fn decide(
        &self,
        request: &Arc<RequestView>,
        ctx: &Arc<RequestContext>,
    ) -> Result<CacheDecision, Fault> {
        call_phase!(
            self,
            Phase::CachePolicy,
            cache_policy,
            call_decide,
            output::check_cache_decision,
            self.lend_request(request, ctx),
        )
    }
}
