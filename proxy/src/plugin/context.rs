//! The request context plugins read: the data the gateway gathers per request, and the host side
//! of the WIT `request-context` resource, which lends it to one call at a time. A plugin reads a
//! field by calling a method, so a call copies into the guest only what the plugin asks for.

use std::net::IpAddr;
use std::sync::Arc;

use wasmtime::component::Resource;

use super::bindings::types::{Entry, HostRequestContext};
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

/// A context lent to the call running in a store: what its resource table holds meanwhile.
pub struct LentContext(pub Arc<RequestContext>);

fn value_of(entries: &[Entry], key: &str) -> Option<String> {
    entries
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.clone())
}

impl HostState {
    fn context(&mut self, handle: &Resource<LentContext>) -> wasmtime::Result<&RequestContext> {
        Ok(&self.table().get(handle)?.0)
    }
}

impl HostRequestContext for HostState {
    fn api(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<String> {
        Ok(self.context(&handle)?.api.clone())
    }

    fn stage(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<String> {
        Ok(self.context(&handle)?.stage.clone())
    }

    fn route(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<String> {
        Ok(self.context(&handle)?.route.clone())
    }

    fn path_parameter(
        &mut self,
        handle: Resource<LentContext>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context(&handle)?.path_parameters, &name))
    }

    fn path_parameters(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<Vec<Entry>> {
        Ok(self.context(&handle)?.path_parameters.clone())
    }

    fn stage_variable(
        &mut self,
        handle: Resource<LentContext>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context(&handle)?.stage_variables, &name))
    }

    fn stage_variables(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<Vec<Entry>> {
        Ok(self.context(&handle)?.stage_variables.clone())
    }

    fn source_ip(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<String> {
        let ip = self.context(&handle)?.source_ip;
        Ok(ip.map(|ip| ip.to_string()).unwrap_or_default())
    }

    fn request_id(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<String> {
        Ok(self.context(&handle)?.request_id.clone())
    }

    fn principal(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<Option<String>> {
        Ok(self.context(&handle)?.principal.clone())
    }

    fn authorizer_value(
        &mut self,
        handle: Resource<LentContext>,
        key: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(value_of(&self.context(&handle)?.authorizer_context, &key))
    }

    fn authorizer_context(
        &mut self,
        handle: Resource<LentContext>,
    ) -> wasmtime::Result<Vec<Entry>> {
        Ok(self.context(&handle)?.authorizer_context.clone())
    }

    fn drop(&mut self, handle: Resource<LentContext>) -> wasmtime::Result<()> {
        self.release(handle)
    }
}
