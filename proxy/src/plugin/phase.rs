//! The plugin phases: one table the loader (which phases a component exports), the invoker
//! (metric labels, per-phase series) and the snapshot's chains (which list a plugin joins) all
//! read. The manifest flags and interface names come from the WIT package, which the SDK is
//! generated from too.

use super::bindings::manifest::Phases;

/// A plugin phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `authorizer`: allow, refuse, or answer, before the integration.
    Authorizer,
    /// `validator`: accept or refuse the request.
    Validator,
    /// `request-transformer`: change the request, or answer early.
    RequestTransformer,
    /// `response-transformer`: change the integration's response.
    ResponseTransformer,
    /// `cache-policy`: how to cache the request's response.
    CachePolicy,
}

impl Phase {
    /// Every phase, in the order a request meets them.
    pub const ALL: [Phase; 5] = [
        Phase::Authorizer,
        Phase::Validator,
        Phase::RequestTransformer,
        Phase::CachePolicy,
        Phase::ResponseTransformer,
    ];

    /// Its WIT interface name, also its metric label.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Authorizer => "authorizer",
            Phase::Validator => "validator",
            Phase::RequestTransformer => "request-transformer",
            Phase::ResponseTransformer => "response-transformer",
            Phase::CachePolicy => "cache-policy",
        }
    }

    /// Its flag in a manifest's `phases`.
    pub fn flag(self) -> Phases {
        match self {
            Phase::Authorizer => Phases::AUTHORIZER,
            Phase::Validator => Phases::VALIDATOR,
            Phase::RequestTransformer => Phases::REQUEST_TRANSFORMER,
            Phase::ResponseTransformer => Phases::RESPONSE_TRANSFORMER,
            Phase::CachePolicy => Phases::CACHE_POLICY,
        }
    }

    /// Whether it runs on the request (and so reads the request's headers).
    pub fn reads_request(self) -> bool {
        !matches!(self, Phase::ResponseTransformer)
    }

    /// The phases a manifest's flags name.
    pub fn all_in(phases: Phases) -> impl Iterator<Item = Phase> {
        Self::ALL
            .into_iter()
            .filter(move |phase| phases.contains(phase.flag()))
    }
}
