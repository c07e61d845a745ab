//! The request context plugins read: the data the gateway gathers per request, and the host side
//! of the WIT `request-context` import, which reads the context lent to the call in progress. A
//! plugin reads a field by calling a function, so a call copies into the guest only what the
//! plugin asks for.

use std::net::IpAddr;
use std::sync::Arc;

use super::bindings::request_context;
use super::bindings::types::Entry;
use super::host::HostState;
use crate::tls::ClientCert;

/// The names of a route in one stage as plugins read them, built once per route and stage at
/// load (so a request lends them with one reference count, and copies a name only when a plugin
/// asks for it).
#[derive(Debug, Default)]
pub struct RouteNames {
    /// The API's name (shared by the stage's routes).
    pub api: Arc<str>,
    /// The stage's name (shared by the stage's routes).
    pub stage: Arc<str>,
    /// The route key, e.g. `GET /pets/{id}`.
    pub route: Arc<str>,
    /// The stage's variables (shared by the stage's routes).
    pub stage_variables: Arc<[(String, String)]>,
}

/// What the gateway knows about a request, as plugins see it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The matched route's names, once one matched.
    pub route: Option<Arc<RouteNames>>,
    /// Path parameters of the route, raw.
    pub path_parameters: Vec<(Arc<str>, String)>,
    /// The client's IP address (formatted only when a plugin asks for it).
    pub source_ip: Option<IpAddr>,
    /// The gateway's request id.
    pub request_id: String,
    /// The principal an authorizer allowed, once one has.
    pub principal: Option<String>,
    /// The context that authorizer returned.
    pub authorizer_context: Vec<(String, String)>,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The client certificate of a mutual TLS connection.
    pub client_cert: Option<Arc<ClientCert>>,
}

impl RequestContext {
    fn name(&self, name: impl Fn(&RouteNames) -> &Arc<str>) -> String {
        self.route
            .as_deref()
            .map_or_else(String::new, |names| name(names).to_string())
    }

    fn stage_variables(&self) -> &[(String, String)] {
        self.route
            .as_ref()
            .map_or(&[], |names| &names.stage_variables)
    }
}

fn value_of<K: AsRef<str>>(pairs: &[(K, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, value)| value.clone())
}

fn entries<K: AsRef<str>>(pairs: &[(K, String)]) -> Vec<Entry> {
    pairs
        .iter()
        .map(|(key, value)| Entry {
            key: key.as_ref().to_string(),
            value: value.clone(),
        })
        .collect()
}

impl HostState {
    fn context(&self) -> wasmtime::Result<&RequestContext> {
        self.lent()
            .context
            .as_deref()
            .ok_or_else(|| wasmtime::format_err!("`request-context` was read outside a phase call"))
    }
}

impl request_context::Host for HostState {
    fn api(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.name(|names| &names.api))
    }

    fn stage(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.name(|names| &names.stage))
    }

    fn route(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.name(|names| &names.route))
    }

    fn path_parameter(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context()?.path_parameters, &name))
    }

    fn path_parameters(&mut self) -> wasmtime::Result<Vec<Entry>> {
        Ok(entries(&self.context()?.path_parameters))
    }

    fn stage_variable(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(value_of(self.context()?.stage_variables(), &name))
    }

    fn stage_variables(&mut self) -> wasmtime::Result<Vec<Entry>> {
        Ok(entries(self.context()?.stage_variables()))
    }

    fn source_ip(&mut self) -> wasmtime::Result<String> {
        let ip = self.context()?.source_ip;
        Ok(ip.map(|ip| ip.to_string()).unwrap_or_default())
    }

    fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.request_id.clone())
    }

    fn principal(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context()?.principal.clone())
    }

    fn authorizer_value(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context()?.authorizer_context, &key))
    }

    fn authorizer_context(&mut self) -> wasmtime::Result<Vec<Entry>> {
        Ok(entries(&self.context()?.authorizer_context))
    }

    fn scheme(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.scheme.to_string())
    }

    fn client_cert(&mut self) -> wasmtime::Result<Option<request_context::Certificate>> {
        let cert = self.context()?.client_cert.as_deref();
        Ok(cert.map(|cert| request_context::Certificate {
            subject_dn: cert.subject_dn.clone(),
            issuer_dn: cert.issuer_dn.clone(),
            serial_number: cert.serial_number.clone(),
            not_before: cert.not_before.clone(),
            not_after: cert.not_after.clone(),
            pem: cert.pem.clone(),
        }))
    }
}
