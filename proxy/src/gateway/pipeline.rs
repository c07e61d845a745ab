//! Walking a route's request steps (`snapshot::Step`, compiled at load): each step acts on the
//! matched request and returns an [`Outcome`]; the first answer ends the walk and is written by
//! [`super::outcome::write`]. Steps never write to the client themselves.

use std::sync::Arc;

use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::outcome::{on_fault, Answer, Outcome, Refusal};
use super::views::{lent_context, new_plugin_context, request_view};
use super::{caching, forward, keys};
use crate::apikeys::KeyService;
use crate::authorizer::IdentityRule;
use crate::cache::ResponseCache;
use crate::config::ApiKeySource;
use crate::gateway_response::ErrorKind;
use crate::jwt::JwtRefusal;
use crate::plugin::{Decision, Fault, Plugin, RequestAction, Verdict};
use crate::snapshot::{Route, RouteJwt, Step};
use crate::validation::Invalid;

/// What the walk needs beyond the request: the process-wide services steps use.
pub struct Services<'a> {
    /// API keys and usage counts.
    pub keys: &'a KeyService,
    /// The response cache.
    pub cache: &'a ResponseCache,
}

/// Run `route`'s steps in order; the answer of the first step that gives one.
pub async fn run(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &Route,
    services: &Services<'_>,
) -> Result<Option<Answer>> {
    for step in &route.steps {
        if let Outcome::Answer(answer) = run_step(step, session, ctx, route, services).await? {
            return Ok(Some(answer));
        }
    }
    Ok(None)
}

async fn run_step(
    step: &Step,
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &Route,
    services: &Services<'_>,
) -> Result<Outcome> {
    Ok(match step {
        Step::PluginsPending(names) => Refusal {
            retry_after: Some(1),
            ..Refusal::with_message(
                ErrorKind::ServiceUnavailable,
                format!("plugin `{names}` is still compiling; try again shortly"),
            )
        }
        .into(),
        Step::Throttle => throttle(route, ctx),
        Step::ApiKey(source) => api_key(*source, session, ctx, services.keys),
        Step::ReadBody => read_body(session, ctx).await?,
        Step::Jwt(jwt) => verify_jwt(jwt, session, ctx).await,
        Step::Authorizer(plugin, rule) => {
            authorize(plugin, rule.as_deref(), session, ctx, route).await
        }
        Step::Validation => validate(route, session, ctx),
        Step::Validator(plugin) => run_validator(plugin, session, ctx, route).await,
        Step::RequestTransformer(plugin) => transform(plugin, session, ctx, route).await,
        Step::CacheLookup(policy) => caching::lookup(policy, session, ctx, services.cache).await?,
    })
}

/// Take a token from each of the route's buckets, most specific first.
fn throttle(route: &Route, ctx: &RequestCtx) -> Outcome {
    let refused = route
        .throttles
        .iter()
        .find_map(|bucket| bucket.admit().err().map(|wait| (bucket, wait)));
    let Some((bucket, wait)) = refused else {
        return Outcome::Continue;
    };
    let (api, stage) = ctx.api_and_stage_names();
    crate::metrics::METRICS
        .throttled
        .with_label_values(&[api, stage, route.key.as_ref(), bucket.level.label()])
        .inc();
    Refusal::throttled(wait).into()
}

fn api_key(
    source: ApiKeySource,
    session: &Session,
    ctx: &mut RequestCtx,
    keys: &KeyService,
) -> Outcome {
    let presented = match source {
        ApiKeySource::Header => session
            .req_header()
            .headers
            .get(keys::API_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        ApiKeySource::Authorizer => ctx
            .authorizer_value(keys::USAGE_IDENTIFIER_KEY)
            .map(str::to_string),
    };
    match keys::admit(keys, ctx, presented.as_deref()) {
        Ok(()) => Outcome::Continue,
        Err(refusal) => refusal.into(),
    }
}

async fn read_body(session: &mut Session, ctx: &mut RequestCtx) -> Result<Outcome> {
    let limit = ctx.max_request_body_bytes();
    Ok(match forward::read_request_body(session, limit).await? {
        Ok(body) => {
            ctx.body = Some(body);
            Outcome::Continue
        }
        Err(kind) => {
            session.set_keepalive(None);
            kind.into()
        }
    })
}

async fn verify_jwt(jwt: &RouteJwt, session: &Session, ctx: &mut RequestCtx) -> Outcome {
    match Box::pin(jwt.authorizer.authorize(session.req_header(), &jwt.scopes)).await {
        Ok(verified) => {
            ctx.principal = Some(verified.principal);
            ctx.authorizer_context = verified.context;
            Outcome::Continue
        }
        Err(JwtRefusal::Unauthorized(reason)) => {
            log::debug!("JWT authorizer `{}`: {reason}", jwt.authorizer.name);
            ErrorKind::Unauthorized.into()
        }
        Err(JwtRefusal::Forbidden) => ErrorKind::AccessDenied.into(),
    }
}

/// The request head shown to the route's plugins, built at the first call.
fn view(session: &Session, ctx: &mut RequestCtx, route: &Route) -> Arc<crate::plugin::RequestView> {
    ctx.view
        .get_or_insert_with(|| request_view(session.req_header(), &route.plugins.request_headers))
        .clone()
}

/// An authorizer plugin; with a Lambda-authorizer `rule`, a request without its identity
/// sources is 401 without a call, and decisions are cached per identity.
async fn authorize(
    plugin: &Plugin,
    rule: Option<&IdentityRule>,
    session: &Session,
    ctx: &mut RequestCtx,
    route: &Route,
) -> Outcome {
    let request = session.req_header();
    let identity = match rule {
        Some(rule) => match rule.identity(request, ctx.stage_variables()) {
            Some(identity) => Some((rule, identity)),
            None => return ErrorKind::Unauthorized.into(),
        },
        None => None,
    };
    let cached = identity
        .as_ref()
        .and_then(|(rule, identity)| rule.cached(identity));
    let decision = match cached {
        Some(decision) => Ok(decision),
        None => {
            let (head, lent) = (view(session, ctx, route), lent_context(ctx));
            let decision = Box::pin(plugin.authorize(&head, ctx.body.as_deref(), &lent)).await;
            if let (Ok(decision), Some((rule, identity))) = (&decision, identity) {
                rule.remember(identity, decision);
            }
            decision
        }
    };
    match decision {
        Ok(Decision::Allow(allow)) => {
            ctx.principal = Some(allow.principal.clone());
            ctx.authorizer_context = allow
                .context
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect();
            // Taken out, so the update changes it in place rather than copying it.
            let mut lent = match ctx.plugin_context.take() {
                Some(lent) => lent,
                None => Arc::new(new_plugin_context(ctx)),
            };
            let updated = Arc::make_mut(&mut lent);
            updated.principal = Some(allow.principal);
            updated.authorizer_context = ctx.authorizer_context.clone();
            ctx.plugin_context = Some(lent);
            Outcome::Continue
        }
        Ok(Decision::Unauthorized) => ErrorKind::Unauthorized.into(),
        Ok(Decision::Forbidden) => ErrorKind::AccessDenied.into(),
        Ok(Decision::Respond(response)) => Outcome::Answer(Answer::Plugin(response)),
        Err(_) => fault_outcome(plugin, ErrorKind::AccessDenied),
    }
}

/// Required parameters and the body's model; a refusal's detail goes to the access log, and
/// into the message when the API asks for it.
fn validate(route: &Route, session: &Session, ctx: &mut RequestCtx) -> Outcome {
    let checked = route
        .validation
        .check(session.req_header(), &ctx.params, ctx.body.as_deref());
    let Err(invalid) = checked else {
        return Outcome::Continue;
    };
    let details = ctx.stage.as_ref().is_some_and(|s| s.api.validation_details);
    let refusal = match &invalid {
        Invalid::Parameters(message) => {
            Refusal::with_message(ErrorKind::BadRequestParameters, message.clone())
        }
        Invalid::Body(detail) if details => Refusal::with_message(
            ErrorKind::BadRequestBody,
            format!("Invalid request body: {detail}"),
        ),
        Invalid::Body(_) => {
            Refusal::with_message(ErrorKind::BadRequestBody, "Invalid request body")
        }
    };
    ctx.validation_error = Some(match invalid {
        Invalid::Parameters(message) | Invalid::Body(message) => message,
    });
    refusal.into()
}

async fn run_validator(
    plugin: &Plugin,
    session: &Session,
    ctx: &mut RequestCtx,
    route: &Route,
) -> Outcome {
    let (head, lent) = (view(session, ctx, route), lent_context(ctx));
    match Box::pin(plugin.validate(&head, ctx.body.as_deref(), &lent)).await {
        Ok(Verdict::Accept) => Outcome::Continue,
        Ok(Verdict::Reject(message)) => {
            Refusal::with_message(ErrorKind::BadRequestBody, message).into()
        }
        Err(_) => fault_outcome(plugin, ErrorKind::InternalError),
    }
}

async fn transform(
    plugin: &Arc<Plugin>,
    session: &Session,
    ctx: &mut RequestCtx,
    route: &Route,
) -> Outcome {
    let lent = lent_context(ctx);
    // Taken out, so the transformer's changes apply to it in place rather than to a copy.
    let mut head = match ctx.view.take() {
        Some(head) => head,
        None => request_view(session.req_header(), &route.plugins.request_headers),
    };
    // A fault of the call itself was logged by it; one in applying its answer is logged here.
    let action = match plugin.filter() {
        Some(_) => {
            let streams = &mut ctx.filter_streams;
            Box::pin(plugin.filter_request(&head, ctx.body.as_deref(), &lent, streams)).await
        }
        None => Box::pin(plugin.transform_request(&head, ctx.body.as_deref(), &lent)).await,
    };
    let result = match action {
        Ok(RequestAction::Continue(mut changes)) => match changes.body.take() {
            Some(_) if ctx.body.is_none() => Err(Fault::Invalid(
                "a body change without needs-request-body".into(),
            )),
            new_body => {
                if let Some(new_body) = new_body {
                    ctx.body = Some(new_body.into());
                }
                ctx.edits.merge(plugin, changes, Arc::make_mut(&mut head))
            }
        }
        .inspect_err(|fault| log::warn!("plugin `{}` request-transformer: {fault}", plugin.name)),
        Ok(RequestAction::Respond(response)) => return Outcome::Answer(Answer::Plugin(response)),
        Err(fault) => Err(fault),
    };
    ctx.view = Some(head);
    match result {
        Ok(()) => Outcome::Continue,
        Err(_) => fault_outcome(plugin, ErrorKind::InternalError),
    }
}

/// After a plugin's fault: on when it fails open, else the refusal `closed`.
fn fault_outcome(plugin: &Plugin, closed: ErrorKind) -> Outcome {
    on_fault(plugin, closed).map_or(Outcome::Continue, Outcome::from)
}
