//! The request context plugins read: the data the gateway gathers per request, and the host side
//! of the WIT `request-context` import, which reads the context lent to the call in progress. A
//! plugin reads a field by calling a function, so a call copies into the guest only what the
//! plugin asks for.

use std::net::IpAddr;

use super::bindings::request_context;
use super::bindings::types::Entry;
use super::host::HostState;

/// What the gateway knows about a request, as plugins see it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The API's name.
    pub api: String,
    /// The stage's name.
    pub stage: String,
    /// The matched route key.
    pub route: String,
    /// Path parameters of the route, raw.
    pub path_parameters: Vec<Entry>,
    /// The stage's variables.
    pub stage_variables: Vec<Entry>,
    /// The client's IP address (formatted only when a plugin asks for it).
    pub source_ip: Option<IpAddr>,
    /// The gateway's request id.
    pub request_id: String,
    /// The principal an authorizer allowed, once one has.
    pub principal: Option<String>,
    /// The context that authorizer returned.
    pub authorizer_context: Vec<Entry>,
}

fn value_of(entries: &[Entry], key: &str) -> Option<String> {
    entries
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.clone())
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
        Ok(self.context()?.api.clone())
    }

    fn stage(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.stage.clone())
    }

    fn route(&mut self) -> wasmtime::Result<String> {
        Ok(self.context()?.route.clone())
    }

    fn path_parameter(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context()?.path_parameters, &name))
    }

    fn path_parameters(&mut self) -> wasmtime::Result<Vec<Entry>> {
        Ok(self.context()?.path_parameters.clone())
    }

    fn stage_variable(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context()?.stage_variables, &name))
    }

    fn stage_variables(&mut self) -> wasmtime::Result<Vec<Entry>> {
        Ok(self.context()?.stage_variables.clone())
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
        Ok(self.context()?.authorizer_context.clone())
    }
}
