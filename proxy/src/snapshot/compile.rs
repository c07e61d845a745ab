//! Compiling a loaded config into a [`Snapshot`], reporting every mistake of meaning (bad route
//! keys, unknown upstreams, undefined stage variables, conflicting routes, ...) with its place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::apis::compile_api;
use super::authorizers::compile_jwt_authorizers;
use super::plans::{compile_keys, compile_plans, Plans};
use super::secrets::compile_admin_token;
use super::upstreams::{compile_upstreams, Pools};
use super::{Chain, Entrypoint, Snapshot};
use crate::apikeys::KeyConfig;
use crate::authorizer::IdentityRule;
use crate::config::*;
use crate::plugin::{CompileCache, Patience, Pending, Phase, Plugin};
use crate::policy::TrustedProxies;
use crate::throttle::{self, Level};

/// The HTTP API catch-all route key.
pub(super) const DEFAULT_ROUTE: &str = "$default";
/// The stage served without a path prefix.
pub(super) const DEFAULT_STAGE: &str = "$default";

/// Compile `loaded` into a snapshot, or return every mistake found; plugins are waited for
/// until they are compiled.
pub fn compile(loaded: &LoadedConfig) -> Result<Snapshot, ConfigErrors> {
    compile_with(loaded, Patience::Forever)
}

/// [`compile`], waiting for plugins to compile as `patience` says: the snapshot lists those
/// still compiling, and their routes answer 503 until a reload finds them ready.
pub fn compile_with(loaded: &LoadedConfig, patience: Patience) -> Result<Snapshot, ConfigErrors> {
    let mut diags = Diagnostics::resume(&loaded.source, loaded.errors.clone());
    let file = &loaded.file;
    check_addresses(file, &mut diags);
    let base_dir = loaded.source.file().parent().unwrap_or(Path::new("."));
    let mut pools = Pools {
        named: compile_upstreams(&file.upstreams, base_dir, &mut diags),
        by_address: HashMap::new(),
        host_headers: HashMap::new(),
    };
    let transport = crate::tls::compile(
        file.server.tls.as_ref(),
        &file.domains,
        base_dir,
        &mut diags,
    );
    crate::plugin::use_compile_cache(match file.server.plugin_cache_dir.as_deref() {
        Some("off") => CompileCache::Off,
        // wasmtime takes only absolute cache paths (a relative one turned the cache off).
        Some(directory) => CompileCache::Directory(
            std::path::absolute(base_dir.join(directory))
                .unwrap_or_else(|_| base_dir.join(directory)),
        ),
        None => CompileCache::Default,
    });
    let (plugins, pending_plugins) =
        compile_plugins(file, loaded.source.file(), patience, &mut diags);
    let authorizer_rules = compile_authorizer_rules(file, &plugins, &mut diags);
    let plans = compile_plans(file, &mut diags);
    let config_keys = compile_keys(file, &plans, base_dir, &mut diags);
    let admin_token = compile_admin_token(&file.admin, base_dir, &mut diags);
    let jwt_authorizers = compile_jwt_authorizers(file, base_dir, &mut diags);
    let trusted_proxies = TrustedProxies(compile_nets(
        &file.server.trusted_proxies,
        "server.trusted_proxies",
        &mut diags,
    ));
    let mut entrypoints: Vec<(Spanned<String>, String, Entrypoint)> = Vec::new();
    for api in &file.apis {
        let mut cx = ApiContext {
            server: &file.server,
            base_dir,
            plugins: &plugins,
            pending_plugins: &pending_plugins,
            authorizer_rules: &authorizer_rules,
            plans: &plans,
            jwt_authorizers: &jwt_authorizers,
            declared_jwt: &file.jwt_authorizers,
            declared: &file.plugins,
            pools: &mut pools,
            entrypoints: &mut entrypoints,
            transport: &transport,
        };
        compile_api(api, &mut cx, &mut diags);
    }
    let mut seen: HashMap<(Option<String>, String), &str> = HashMap::new();
    for (name, path, entrypoint) in &entrypoints {
        let key = (entrypoint.host.clone(), entrypoint.prefix.clone());
        if let Some(other) = seen.insert(key, path) {
            let place = match &entrypoint.host {
                Some(host) => format!("host `{host}` with prefix `{}`", entrypoint.prefix),
                None => format!("path prefix `{}`", entrypoint.prefix),
            };
            diags.error(
                Some(name.span()),
                path,
                format!("{place} is already served by {other}"),
            );
        }
    }
    let mut entrypoints: Vec<Entrypoint> = entrypoints.into_iter().map(|(_, _, e)| e).collect();
    entrypoints.sort_by_key(|e| (e.host.is_none(), std::cmp::Reverse(e.prefix.len())));
    diags.finish(Snapshot {
        entrypoints,
        server: file.server.clone(),
        admin: file.admin.clone(),
        watched_files: file
            .plugins
            .iter()
            .map(|p| base_dir.join(p.value.path.get_ref()))
            .chain(file.apis.iter().flat_map(|api| {
                api.value
                    .settings
                    .models
                    .values()
                    .filter_map(|m| m.get_ref().file.as_ref())
                    .map(|f| base_dir.join(f))
            }))
            .chain(
                file.api_keys
                    .iter()
                    .filter_map(|key| key.value.value_file.as_ref())
                    .map(|f| base_dir.join(f.get_ref())),
            )
            .chain(crate::tls::files_named(file, base_dir))
            .collect(),
        transport: Arc::new(transport),
        keys: KeyConfig {
            usage_plans: plans.by_name,
            config_keys,
        },
        admin_token,
        trusted_proxies,
        jwt_authorizers,
        account_throttle: throttle::bucket(Level::Account, "", &file.server.throttle),
        pending_plugins,
        plugins,
    })
}

/// Addresses and CIDR blocks, each mistake reported at its place.
pub(super) fn compile_nets(
    list: &[Spanned<String>],
    key: &str,
    diags: &mut Diagnostics,
) -> Vec<ipnet::IpNet> {
    list.iter()
        .filter_map(|text| {
            crate::policy::parse_net(text.get_ref())
                .map_err(|e| diags.error(Some(text.span()), key, e))
                .ok()
        })
        .collect()
}

pub(super) fn check_addresses(file: &ConfigFile, diags: &mut Diagnostics) {
    let tls = file.server.tls.as_ref();
    let listens = file.server.listen.iter().map(|l| ("server.listen", l));
    let https = tls
        .into_iter()
        .flat_map(|t| t.listen.iter().map(|l| ("server.tls.listen", l)));
    let redirects = tls.into_iter().flat_map(|t| {
        t.redirect_listen
            .iter()
            .map(|l| ("server.tls.redirect_listen", l))
    });
    let all = listens.chain(https).chain(redirects);
    let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
    for (key, address) in all.chain([("admin.listen", &file.admin.listen)]) {
        match address.get_ref().parse::<SocketAddr>() {
            Ok(parsed) => {
                if let Some(first) = seen.insert(parsed, key) {
                    let message = format!("`{parsed}` is already a listen address in `{first}`");
                    diags.error(Some(address.span()), key, message);
                }
            }
            Err(_) => diags.error(
                Some(address.span()),
                key,
                format!("`{}` is not an `ip:port` address", address.get_ref()),
            ),
        }
    }
    if file.server.listen.is_empty() && tls.is_none_or(|t| t.listen.is_empty()) {
        diags.error(
            None,
            "server.listen",
            "at least one listen address is needed (here or in `server.tls.listen`)",
        );
    }
    let has_certificate = |t: &TlsFile| {
        t.certificate.is_some() || file.domains.iter().any(|d| d.value.certificate.is_some())
    };
    if let Some(tls) = tls.filter(|t| !has_certificate(t)) {
        let span = tls.listen.first().map(|l| l.span());
        let message = "a TLS listener needs a certificate: `certificate` and `key` here, or in a \
                       `[domains.<name>]`";
        diags.error(span, "server.tls", message);
    }
    let http2 = &file.server.http2;
    if !(1..=1000).contains(&http2.max_concurrent_streams) {
        let message = format!("is from 1 to 1000 (got {})", http2.max_concurrent_streams);
        diags.error(None, "server.http2.max_concurrent_streams", message);
    }
    if !(1000..=3_600_000).contains(&http2.idle_timeout_ms) {
        let message = format!("is from 1000 to 3600000 (got {})", http2.idle_timeout_ms);
        diags.error(None, "server.http2.idle_timeout_ms", message);
    }
    let log = file.server.access_log.as_str();
    if log.is_empty() {
        diags.error(
            None,
            "server.access_log",
            "use \"stdout\", \"off\" or a file path",
        );
    }
}

/// Load every declared plugin; a plugin that fails to load is reported at its name. Also the
/// plugins left compiling when `patience` ran out.
pub(super) fn compile_plugins(
    file: &ConfigFile,
    config_path: &std::path::Path,
    patience: Patience,
    diags: &mut Diagnostics,
) -> (HashMap<String, Arc<Plugin>>, Vec<Pending>) {
    if file.plugins.is_empty() {
        return (HashMap::new(), Vec::new());
    }
    let base = config_path.parent().unwrap_or(std::path::Path::new("."));
    let loaded = crate::plugin::load_all(&file.plugins, base, patience);
    for (index, error) in loaded.errors {
        let plugin = &file.plugins[index];
        diags.error(Some(plugin.name.span()), &plugin.path, error);
    }
    (loaded.by_name, loaded.pending)
}

/// The Lambda-authorizer rule (identity sources and decision cache) of each plugin declaring
/// `authorizer = {...}`: one per plugin per load, shared by every route the plugin guards.
pub(super) fn compile_authorizer_rules(
    file: &ConfigFile,
    plugins: &HashMap<String, Arc<Plugin>>,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<IdentityRule>> {
    let mut rules = HashMap::new();
    for declared in &file.plugins {
        let (Some(settings), Some(plugin)) = (
            &declared.value.authorizer,
            plugins.get(declared.name.get_ref()),
        ) else {
            continue;
        };
        let rule = if plugin.phases.contains(Phase::Authorizer.flag()) {
            IdentityRule::compile(settings).map_err(|e| format!("authorizer: {e}"))
        } else {
            Err("`authorizer` settings need a plugin that serves the authorizer phase".into())
        };
        match rule {
            Ok(rule) => {
                rules.insert(plugin.name.clone(), Arc::new(rule));
            }
            Err(e) => diags.error(Some(declared.name.span()), &declared.path, e),
        }
    }
    rules
}

/// What compiling an API needs from the rest of the config.
pub(super) struct ApiContext<'a> {
    pub(super) server: &'a ServerFile,
    pub(super) base_dir: &'a Path,
    pub(super) plugins: &'a HashMap<String, Arc<Plugin>>,
    pub(super) pending_plugins: &'a [Pending],
    pub(super) authorizer_rules: &'a HashMap<String, Arc<IdentityRule>>,
    pub(super) plans: &'a Plans,
    pub(super) jwt_authorizers: &'a HashMap<String, Arc<crate::jwt::JwtAuthorizer>>,
    pub(super) declared_jwt: &'a [Named<JwtAuthorizerFile>],
    pub(super) declared: &'a [Named<PluginFile>],
    pub(super) pools: &'a mut Pools,
    pub(super) entrypoints: &'a mut Vec<(Spanned<String>, String, Entrypoint)>,
    /// Custom domains, for stages mapped to domains with mutual TLS.
    pub(super) transport: &'a crate::tls::Transport,
}

/// The plugin chain from the API's, stage's and route's lists, each plugin once, in that order
/// (a plugin still compiling is named in [`Chain::pending`]).
pub(super) fn compile_chain(
    lists: [(&[Spanned<String>], &str); 3],
    cx: &ApiContext<'_>,
    diags: &mut Diagnostics,
) -> Chain {
    let (plugins, declared) = (cx.plugins, cx.declared);
    let mut chain = Chain::default();
    let mut seen: Vec<&str> = Vec::new();
    for (names, path) in lists {
        for name in names {
            let name_text = name.get_ref().as_str();
            if seen.contains(&name_text) {
                continue;
            }
            seen.push(name_text);
            match plugins.get(name_text) {
                Some(plugin) => chain.push(plugin),
                None if cx.pending_plugins.iter().any(|p| p.name == name_text) => {
                    chain.pending.push(name_text.to_string());
                }
                // A declared plugin that failed to load is already reported at its declaration.
                None if declared.iter().any(|p| p.name.get_ref() == name_text) => {}
                None => diags.error(
                    Some(name.span()),
                    &format!("{path}.plugins"),
                    format!(
                        "no plugin named `{name_text}` (declare it under [plugins.{name_text}])"
                    ),
                ),
            }
        }
    }
    chain
}
