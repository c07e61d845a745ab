//! Test helpers: a real `wasmgate` process on free loopback ports, echo backends over TCP, and
//! a client.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// `count` distinct loopback ports nobody listens on right now (each bound until all are
/// picked: ports picked one by one may repeat).
pub fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<StdListener> = (0..count)
        .map(|_| StdListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// Run `wasmgate check` on the config at `path`: whether it passed, and what it printed to stderr.
pub fn check(path: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("check")
        .arg(path)
        .output()
        .expect("run wasmgate check");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Write `config` as `name` in a temporary directory and run `wasmgate check` on it: it must fail
/// with an error on each `(line, words)` of `expected`.
pub fn assert_config_errors(name: &str, config: &str, expected: &[(usize, &str)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, config).expect("write config");
    let (passed, stderr) = check(&path);
    assert!(!passed);
    for (line, words) in expected {
        let found = stderr
            .lines()
            .any(|l| l.contains(&format!("{name}:{line}:")) && l.contains(words));
        assert!(found, "no error for line {line} ({words}) in:\n{stderr}");
    }
}

/// Additions to the `[server]` and `[admin]` sections the harness writes, and environment
/// variables for the gateway process.
#[derive(Default)]
pub struct Extra<'a> {
    /// Lines added to `[server]`.
    pub server: &'a str,
    /// Lines added to `[admin]`.
    pub admin: &'a str,
    /// Environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// Return once the gateway serves, before its plugins have compiled (by default start waits
    /// for `/readyz`, i.e. for every plugin: an uncached Python or JavaScript one compiles for
    /// seconds, its routes answering 503 meanwhile).
    pub before_plugins_compile: bool,
}

/// A running gateway process, killed when dropped.
pub struct Gateway {
    child: Child,
    /// The proxy's base URL, e.g. `http://127.0.0.1:4321`.
    pub url: String,
    /// The admin listener's base URL.
    pub admin: String,
    /// The config file the gateway serves (rewrite it to test reloads).
    pub config_path: PathBuf,
    header: String,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Start a gateway on `config`, whose `[server]` and `[admin]` sections are added here. Ports
    /// are picked free, but another test may take one before the gateway binds it: a gateway that
    /// exits at start is started again on other ports.
    pub async fn start(config: &str) -> Gateway {
        Self::start_with(config, Extra::default()).await
    }

    /// [`Gateway::start`] with extra environment variables for the gateway process.
    pub async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_with(
            config,
            Extra {
                env,
                ..Extra::default()
            },
        )
        .await
    }

    /// [`Gateway::start`] with extra `[server]` / `[admin]` keys and environment variables.
    pub async fn start_with(config: &str, extra: Extra<'_>) -> Gateway {
        for _ in 0..5 {
            let mut gateway = Self::spawn(config, &extra);
            if gateway.wait_ready(!extra.before_plugins_compile).await {
                return gateway;
            }
        }
        panic!("wasmgate did not start in 5 attempts");
    }

    /// Start the gateway again on the same config, ports and state directory, after it exited
    /// (or was killed).
    pub async fn restart(&mut self) {
        self.child = Self::serve(&self.config_path, &self.env);
        assert!(self.wait_ready(true).await, "wasmgate did not restart");
    }

    /// Run the `wasmgate` command line against this gateway's admin API: (success, stdout,
    /// stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .args(args)
            .args(["--admin", &self.admin])
            .output()
            .expect("run wasmgate");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The directory holding the config, the access log and the state directory.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    fn serve(config_path: &std::path::Path, env: &[(String, String)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .arg("serve")
            .arg(config_path)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wasmgate")
    }

    fn spawn(config: &str, extra: &Extra<'_>) -> Gateway {
        let env: Vec<(String, String)> = extra
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let port = free_port();
        let admin_port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("gateway.toml");
        let header = format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nthreads = 2\naccess_log = \"{}\"\ngrace_period_seconds = 5\n{}\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\n{}\n",
            dir.path().join("access.log").display(),
            extra.server,
            extra.admin,
        );
        std::fs::write(&config_path, format!("{header}{config}")).expect("write config");
        let child = Self::serve(&config_path, &env);
        Gateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            config_path,
            header,
            env,
            _dir: dir,
        }
    }

    /// Wait until both listeners answer (and, with `plugins`, `/readyz` says every plugin has
    /// compiled); false if the process exited instead (a port was taken), also checked a moment
    /// after the listeners answered, in case another process answered.
    async fn wait_ready(&mut self, plugins: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(if plugins { 180 } else { 20 });
        let client = client();
        let probe = if plugins { "readyz" } else { "healthz" };
        loop {
            if self.child.try_wait().expect("poll child").is_some() {
                return false;
            }
            let admin_up = client
                .get(format!("{}/{probe}", self.admin))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            let proxy_up = tokio::net::TcpStream::connect(self.url.trim_start_matches("http://"))
                .await
                .is_ok();
            if admin_up && proxy_up {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return self.child.try_wait().expect("poll child").is_none();
            }
            assert!(Instant::now() < deadline, "gateway did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal to the gateway process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait up to `timeout` for the process to exit; its exit status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Replace `from` with `to` in the config file as written (header included); the file must
    /// hold `from`.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.config_path).expect("read config");
        assert!(text.contains(from), "the config has no `{from}`:\n{text}");
        std::fs::write(&self.config_path, text.replace(from, to)).expect("edit config");
    }

    /// Replace the APIs part of the config (the `[server]`/`[admin]` header is kept).
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(&self.config_path, format!("{}{config}", self.header))
            .expect("rewrite config");
    }

    /// The Prometheus text of the admin `/metrics` once it contains `needle`. Request metrics are
    /// recorded after the response is sent, so a client can see its answer a moment before them.
    pub async fn metrics_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = client()
                .get(format!("{}/metrics", self.admin))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("metrics text");
            if metrics.contains(needle) {
                return metrics;
            }
            assert!(Instant::now() < deadline, "no `{needle}` in:\n{metrics}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST /admin/reload`: its status and JSON answer.
    pub async fn reload(&self) -> (u16, Value) {
        let response = client()
            .post(format!("{}/admin/reload", self.admin))
            .send()
            .await
            .expect("reload");
        (
            response.status().as_u16(),
            response.json().await.expect("reload answer"),
        )
    }

    /// The first access log line that `matches`, waiting for the writer thread to flush it.
    pub async fn access_log_line(&self, matches: impl Fn(&Value) -> bool) -> Value {
        let path = self.config_path.with_file_name("access.log");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            let lines: Vec<Value> = complete
                .lines()
                .map(|line| serde_json::from_str(line).expect("access log line is JSON"))
                .collect();
            if let Some(line) = lines.iter().find(|line| matches(line)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no matching line in {lines:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A text served on a loopback listener: every request gets its current value.
pub struct Document {
    /// The text served; replace it to change what the next request gets.
    pub text: Arc<Mutex<String>>,
    /// Requests served so far.
    pub fetches: Arc<AtomicUsize>,
}

/// Serve `text` as `content_type` to every request on `listener`.
pub fn serve_document(listener: TcpListener, content_type: &'static str, text: String) -> Document {
    let document = Document {
        text: Arc::new(Mutex::new(text)),
        fetches: Arc::new(AtomicUsize::new(0)),
    };
    let (served, fetches) = (document.text.clone(), document.fetches.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (served, fetches) = (served.clone(), fetches.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_request: Request<Incoming>| {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let text = served.lock().unwrap().clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", content_type)
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    document
}

/// `GET url` with `headers`: the status, and the body as JSON (a JSON string when it is not JSON).
pub async fn get_json(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A client that never reuses surprises: no proxy, short timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// An echo backend: answers JSON describing the request it got. Query `sleep_ms=N` delays the
/// answer; header `x-echo-status` sets the status.
pub struct Backend {
    /// `host:port`.
    pub addr: SocketAddr,
    /// Requests received.
    pub hits: Arc<AtomicUsize>,
    /// Each request whose body was read to its end or failed: what arrived.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One request as a backend parsed it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its method.
    pub method: String,
    /// Its path and query as received.
    pub target: String,
    /// Body bytes received.
    pub body_len: usize,
    /// Whether the body ended as its framing said (not cut short).
    pub complete: bool,
}

impl Backend {
    /// Start a backend named `name` on a free loopback port.
    pub async fn start(name: &'static str) -> Backend {
        Self::start_with(name, None).await
    }

    /// [`Backend::start`] over TLS with `config` (HTTP/2 when ALPN picks it).
    pub async fn start_tls(name: &'static str, config: Arc<rustls::ServerConfig>) -> Backend {
        Self::start_with(name, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(name: &'static str, tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (counter, record) = (hits.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (counter, record) = (counter.clone(), record.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        echo(name, request, record.clone())
                    });
                    let Some(acceptor) = tls else {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        return;
                    };
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    } else {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                });
            }
        });
        Backend {
            addr,
            hits,
            seen,
            task,
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The requests whose bodies ended (or broke off) so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(
    name: &str,
    request: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if let Some(ms) = query.get("sleep_ms").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let collected = body.collect().await.map(|b| b.to_bytes());
    let complete = collected.is_ok();
    let body = collected.unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        body_len: body.len(),
        complete,
    });
    // A repeated header's values are joined with ", ", as one field would carry them.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or("");
        headers
            .entry(name.to_string())
            .and_modify(|values| *values = format!("{values}, {value}"))
            .or_insert_with(|| value.to_string());
    }
    let status = headers
        .get("x-echo-status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200u16);
    let reply = json!({
        "backend": name,
        "method": parts.method.as_str(),
        "version": format!("{:?}", parts.version),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": body.len(),
        "body": String::from_utf8_lossy(&body[..body.len().min(256)]),
    });
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-backend", name)
        .body(Full::new(Bytes::from(reply.to_string())))
        .expect("echo response"))
}

/// The path of the built plugin component `name` (crate name with `_`): the plugins are built
/// by the project's own build step, once per test run.
pub fn plugin_path(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dist = BUILT.get_or_init(|| {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let status = Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .status()
            .expect("run scripts/build-plugins.sh");
        assert!(status.success(), "building the plugins failed");
        root.join("plugins/dist")
    });
    let path = dist.join(format!("{name}.wasm"));
    assert!(path.exists(), "no plugin at {}", path.display());
    path
}

/// Concurrent clients sending requests in a loop until [`Load::finish`], counting requests that
/// answered 200 with their whole body against all others.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Start `clients` tasks; `request` builds each request from a client and the task's index.
    pub fn start<F>(clients: usize, request: F) -> Load
    where
        F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
    {
        let request = Arc::new(request);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks = (0..clients)
            .map(|index| {
                let (request, stop, ok, failed) =
                    (request.clone(), stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    let client = client();
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = match request(&client, index).send().await {
                            Ok(response) => {
                                let status = response.status();
                                response
                                    .bytes()
                                    .await
                                    .map(|_| status)
                                    .map_err(|e| e.to_string())
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        match outcome {
                            Ok(status) if status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            other => {
                                eprintln!("failed request: {other:?}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    /// Stop the clients; `(ok, failed)` request counts.
    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// What came back from a raw exchange: the bytes read until the server closed the connection
/// or `idle` passed without more, and whether it closed.
pub struct RawReply {
    /// Everything the server sent.
    pub text: String,
    /// Whether the server closed the connection (rather than leaving it idle).
    pub closed: bool,
}

impl RawReply {
    /// Each response in the reply, in order: its head and its body (framed by its
    /// `Content-Length` or chunked encoding; informational responses have none).
    pub fn responses(&self) -> Vec<(String, String)> {
        let mut responses = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(head_end) = rest.find("\r\n\r\n") {
            let head = rest[..head_end].to_string();
            rest = &rest[head_end + 4..];
            let header = |name: &str| {
                head.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_string())
                })
            };
            let informational = head.get(9..10) == Some("1");
            let length = header("content-length").and_then(|l| l.parse::<usize>().ok());
            let chunked = header("transfer-encoding").is_some_and(|te| te.contains("chunked"));
            let mut body = String::new();
            match (informational, length, chunked) {
                (true, _, _) => {}
                (false, Some(length), _) => {
                    let length = rest.len().min(length);
                    body = rest[..length].to_string();
                    rest = &rest[length..];
                }
                (false, None, true) => {
                    while let Some(line_end) = rest.find("\r\n") {
                        let size = usize::from_str_radix(rest[..line_end].trim(), 16).unwrap_or(0);
                        let end = (line_end + 2 + size).min(rest.len());
                        body.push_str(&rest[line_end + 2..end]);
                        rest = rest.get(end + 2..).unwrap_or("");
                        if size == 0 {
                            break;
                        }
                    }
                }
                (false, None, false) => {
                    body = rest.to_string();
                    rest = "";
                }
            }
            responses.push((head, body));
        }
        responses
    }

    /// The status of each response in the reply, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses()
            .iter()
            .filter_map(|(head, _)| head.get(9..12)?.parse().ok())
            .collect()
    }

    /// The first final (not informational) response's body.
    pub fn body(&self) -> String {
        self.responses()
            .into_iter()
            .find(|(head, _)| head.get(9..10) != Some("1"))
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// The first final response's body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body())
            .unwrap_or_else(|e| panic!("not a JSON body ({e}) in:\n{}", self.text))
    }

    /// Whether the first final response carries header `name` (lowercase) with some value.
    pub fn has_header(&self, name: &str) -> bool {
        self.responses()
            .into_iter()
            .find(|(head, _)| head.get(9..10) != Some("1"))
            .is_some_and(|(head, _)| {
                head.lines()
                    .any(|line| line.to_ascii_lowercase().starts_with(&format!("{name}:")))
            })
    }
}

/// Send `request` as raw bytes to `url`'s host and port (no client library to normalise it)
/// and read what comes back, until the server closes or `idle` passes without a byte.
pub async fn raw_exchange(url: &str, request: &[u8], idle: Duration) -> RawReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send request");
    let mut received = Vec::new();
    let mut buf = [0u8; 16384];
    let closed = loop {
        match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    RawReply {
        text: String::from_utf8_lossy(&received).into_owned(),
        closed,
    }
}

/// [`raw_exchange`] of one `GET` of `target` as sent (`Host` included, connection closed
/// after).
pub async fn raw_get(url: &str, target: &str, headers: &str) -> RawReply {
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: gateway\r\n{headers}Connection: close\r\n\r\n");
    raw_exchange(url, request.as_bytes(), Duration::from_secs(5)).await
}

/// The Python of the tests' environment (PyJWT, grpcio, sslyze from PyPI), made once per run by
/// `scripts/test-venv.sh`.
pub fn test_python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let made = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/test-venv.sh"
            ))
            .output()
            .expect("scripts/test-venv.sh");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        String::from_utf8(made.stdout)
            .expect("path")
            .trim()
            .to_string()
    })
}
