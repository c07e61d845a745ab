//! A proxy-wasm filter that attacks the gateway, one attack per request, named by the request's
//! `x-attack` header: floods of headers and bytes, oversized bodies and local responses,
//! impossible statuses, loops, a stream paused forever, calls to hosts it may not reach,
//! unbounded shared data, memory. The well-behaved cases exercise the host: `rewrite` changes
//! the request's method, path and headers; `count` keeps a counter in shared data; `enqueue`
//! puts an item on the root context's queue, which copies it into shared data for `last-event`;
//! `properties` reads properties; every request counts in a metric.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        hostcalls::register_shared_queue("events").is_ok()
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = hostcalls::dequeue_shared_queue(queue_id) {
            self.set_shared_data("last-event", Some(&item), None)
                .expect("store the event");
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Attack::default()))
    }
}

#[derive(Default)]
struct Attack {
    name: String,
    /// Headers to add to the response.
    answer: Vec<(String, String)>,
}

impl Context for Attack {}

impl HttpContext for Attack {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.name = self.get_http_request_header("x-attack").unwrap_or_default();
        let requests = hostcalls::define_metric(MetricType::Counter, "filter_requests");
        hostcalls::increment_metric(requests.expect("a metric"), 1).expect("counted");
        match self.name.as_str() {
            "count" => loop {
                let (value, cas) = self.get_shared_data("count");
                let next =
                    value.map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0)) + 1;
                if self
                    .set_shared_data("count", Some(next.to_string().as_bytes()), cas)
                    .is_ok()
                {
                    self.answer.push(("x-count".into(), next.to_string()));
                    break;
                }
            },
            "enqueue" => {
                let queue = hostcalls::resolve_shared_queue("", "events")
                    .expect("resolve")
                    .expect("the root context registered it");
                let event = self.get_http_request_header("x-event").unwrap_or_default();
                hostcalls::enqueue_shared_queue(queue, Some(event.as_bytes())).expect("enqueued");
            }
            "last-event" => {
                if let (Some(event), _) = self.get_shared_data("last-event") {
                    self.answer.push((
                        "x-last-event".into(),
                        String::from_utf8_lossy(&event).into(),
                    ));
                }
            }
            "properties" => {
                for (header, path) in [
                    ("x-plugin-name", vec!["plugin_name"]),
                    ("x-route", vec!["wasmgate", "route"]),
                    ("x-path", vec!["request", "path"]),
                ] {
                    let value = self.get_property(path).unwrap_or_default();
                    self.answer
                        .push((header.into(), String::from_utf8_lossy(&value).into()));
                }
            }
            "headers" => {
                for i in 0..100_000 {
                    self.add_http_request_header(&format!("x-flood-{i}"), "v");
                }
            }
            "header-bytes" => {
                self.set_http_request_header("x-big", Some(&"v".repeat(1 << 20)));
            }
            "status" => self.send_http_response(1000, vec![], None),
            "informational" => self.send_http_response(101, vec![], None),
            "local-body" => self.send_http_response(200, vec![], Some(&vec![b'x'; 11 << 20])),
            "local-header-name" => self.send_http_response(200, vec![("bad name", "v")], None),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "pause" => return Action::Pause,
            "call" => {
                self.dispatch_http_call(
                    "127.0.0.1:1",
                    vec![(":method", "GET"), (":path", "/"), (":authority", "x")],
                    None,
                    vec![],
                    Duration::from_secs(1),
                )
                .expect("the host refuses a call it may not make");
                return Action::Pause;
            }
            "shared" => {
                self.set_shared_data("big", Some(&vec![0; 2 << 20]), None)
                    .expect("the host refuses 2 MiB of shared data");
            }
            "memory" => {
                let hoard: Vec<u8> = vec![1; 1 << 30];
                std::hint::black_box(hoard);
            }
            "smuggle" => self.set_http_request_header("content-length", Some("0")),
            "bad-path" => self.set_http_request_header(":path", Some("/../../etc/passwd")),
            "connect" => self.set_http_request_header(":method", Some("CONNECT")),
            "authority" => self.set_http_request_header(":authority", Some("a b@evil")),
            "local-twice" => {
                self.send_http_response(401, vec![], Some(b"one"));
                self.send_http_response(402, vec![], Some(b"two"));
                return Action::Pause;
            }
            "rewrite" => {
                self.set_http_request_header(":path", Some("/rewritten?by=filter"));
                self.set_http_request_header(":method", Some("PUT"));
                self.add_http_request_header("x-added", "one");
                self.add_http_request_header("x-added", "two");
                self.set_http_request_header("x-remove-me", None);
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        for (name, value) in &self.answer {
            self.add_http_response_header(name, value);
        }
        match self.name.as_str() {
            "response-status" => self.set_http_response_header(":status", Some("1xx")),
            "response-headers" => {
                for i in 0..100_000 {
                    self.add_http_response_header(&format!("x-flood-{i}"), "v");
                }
            }
            "rewrite" => self.set_http_response_header("x-filtered", Some("yes")),
            "late-request-header" => self.set_http_request_header("x-late", Some("too late")),
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.name == "response-body" && end_of_stream {
            self.set_http_response_body(0, size, &vec![b'x'; 11 << 20]);
        }
        Action::Continue
    }
}
