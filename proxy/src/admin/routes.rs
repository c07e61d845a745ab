//! The admin API's route table: method and path to [`Endpoint`], matched by `matchit` exactly
//! as sent — case-sensitive, never percent-decoded, no trailing slash — so `/ADMIN/keys` or
//! `/%61dmin/keys` are simply unknown paths, and which endpoints are open without the token.

use std::sync::LazyLock;

use http::Method;

/// One admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /healthz`: liveness.
    Healthz,
    /// `GET /readyz`: readiness (503 while draining).
    Readyz,
    /// `GET /metrics`: the Prometheus text.
    Metrics,
    /// `POST /admin/reload`: load the config file again.
    Reload,
    /// `DELETE /admin/cache`: empty the response cache.
    FlushCache,
    /// `GET /admin/keys`.
    ListKeys,
    /// `POST /admin/keys`.
    CreateKey,
    /// `POST /admin/keys/import`.
    ImportKeys,
    /// `GET /admin/keys/{id}`.
    GetKey,
    /// `PATCH /admin/keys/{id}`.
    UpdateKey,
    /// `DELETE /admin/keys/{id}`.
    DeleteKey,
    /// `POST /admin/keys/{id}/rotate`.
    RotateKey,
    /// `GET /admin/usage-plans`.
    ListPlans,
    /// `GET /admin/usage-plans/{plan}/usage`.
    PlanUsage,
}

/// Every endpoint: method, path pattern (`matchit` syntax), endpoint.
const TABLE: [(Method, &str, Endpoint); 14] = [
    (Method::GET, "/healthz", Endpoint::Healthz),
    (Method::GET, "/readyz", Endpoint::Readyz),
    (Method::GET, "/metrics", Endpoint::Metrics),
    (Method::POST, "/admin/reload", Endpoint::Reload),
    (Method::DELETE, "/admin/cache", Endpoint::FlushCache),
    (Method::GET, "/admin/keys", Endpoint::ListKeys),
    (Method::POST, "/admin/keys", Endpoint::CreateKey),
    (Method::POST, "/admin/keys/import", Endpoint::ImportKeys),
    (Method::GET, "/admin/keys/{id}", Endpoint::GetKey),
    (Method::PATCH, "/admin/keys/{id}", Endpoint::UpdateKey),
    (Method::DELETE, "/admin/keys/{id}", Endpoint::DeleteKey),
    (Method::POST, "/admin/keys/{id}/rotate", Endpoint::RotateKey),
    (Method::GET, "/admin/usage-plans", Endpoint::ListPlans),
    (
        Method::GET,
        "/admin/usage-plans/{plan}/usage",
        Endpoint::PlanUsage,
    ),
];

impl Endpoint {
    /// Whether the endpoint answers without the bearer token: health always, metrics when the
    /// operator opened them.
    pub fn is_public(self, public_metrics: bool) -> bool {
        match self {
            Self::Healthz | Self::Readyz => true,
            Self::Metrics => public_metrics,
            _ => false,
        }
    }
}

/// What a request's method and path name.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched {
    /// An endpoint, with the `{id}` or `{plan}` of its path.
    Endpoint(Endpoint, Option<String>),
    /// A known path that does not take this method: the methods it takes.
    MethodNotAllowed(Vec<Method>),
    /// No such path.
    NotFound,
}

static ROUTER: LazyLock<matchit::Router<Vec<(Method, Endpoint)>>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    let mut paths: Vec<&str> = TABLE.iter().map(|(_, path, _)| *path).collect();
    paths.dedup();
    for path in paths {
        let methods = TABLE
            .iter()
            .filter(|(_, p, _)| *p == path)
            .map(|(method, _, endpoint)| (method.clone(), *endpoint))
            .collect();
        router
            .insert(path, methods)
            .expect("the admin route table has no conflicting paths");
    }
    router
});

/// The endpoint `method` and `path` name.
pub fn find(method: &Method, path: &str) -> Matched {
    let Ok(matched) = ROUTER.at(path) else {
        return Matched::NotFound;
    };
    let param = matched.params.iter().next().map(|(_, v)| v.to_string());
    match matched.value.iter().find(|(m, _)| m == method) {
        Some((_, endpoint)) => Matched::Endpoint(*endpoint, param),
        None => Matched::MethodNotAllowed(matched.value.iter().map(|(m, _)| m.clone()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_exactly_as_sent() {
        let cases = [
            ("GET", "/admin/keys", Some(Endpoint::ListKeys)),
            ("POST", "/admin/keys/import", Some(Endpoint::ImportKeys)),
            ("POST", "/admin/keys/k1/rotate", Some(Endpoint::RotateKey)),
            (
                "GET",
                "/admin/usage-plans/p/usage",
                Some(Endpoint::PlanUsage),
            ),
            ("GET", "/ADMIN/keys", None),
            ("GET", "/%61dmin/keys", None),
            ("GET", "/foo/keys", None),
            ("GET", "/admin/keys/", None),
            ("GET", "//admin/keys", None),
            ("GET", "/admin/../admin/keys", None),
        ];
        for (method, path, expected) in cases {
            let found = find(&method.parse().unwrap(), path);
            let endpoint = match found {
                Matched::Endpoint(endpoint, _) => Some(endpoint),
                _ => None,
            };
            assert_eq!(endpoint, expected, "{method} {path}");
        }
        assert_eq!(
            find(&Method::PUT, "/admin/keys/k1"),
            Matched::MethodNotAllowed(vec![Method::GET, Method::PATCH, Method::DELETE])
        );
    }

    #[test]
    fn only_health_is_open_and_metrics_when_opened() {
        let open: Vec<Endpoint> = TABLE
            .iter()
            .map(|(_, _, e)| *e)
            .filter(|e| e.is_public(false))
            .collect();
        assert_eq!(open, [Endpoint::Healthz, Endpoint::Readyz]);
        assert!(Endpoint::Metrics.is_public(true));
        assert!(!Endpoint::CreateKey.is_public(true));
    }
}
