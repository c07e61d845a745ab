//! Keep-alive connections to HTTP/1 backends: requests reuse one connection, and a connection
//! the backend closes while idle is neither used again nor left open on the gateway's side.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::support::{client, Gateway};

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A backend that counts the connections it accepts and runs `serve` on each.
async fn counting_backend<F, A>(serve: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> A + Send + 'static,
    A: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream));
        }
    });
    (addr, accepted)
}

/// Reads one request head from `stream` (the tests' requests have no body); false at EOF.
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// `GET /ok` through the gateway answers 200 `ok` (`what` names the request in a failure).
async fn get_ok(client: &reqwest::Client, gateway: &Gateway, what: &str) {
    let response = client
        .get(format!("{}/ok", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{what}");
    assert_eq!(response.text().await.unwrap(), "ok", "{what}");
}

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
[apis.k]
type = "http"
[apis.k.stages."$default"]
[apis.k.routes."GET /ok"]
integration = {{ type = "http_proxy", uri = "http://{backend}/", timeout_ms = 2000 }}
"#
    )
}

#[tokio::test]
async fn sequential_requests_share_one_backend_connection() {
    let (backend, accepted) = counting_backend(|mut stream| async move {
        while read_head(&mut stream).await {
            if stream.write_all(ANSWER).await.is_err() {
                return;
            }
        }
    })
    .await;
    let gateway = Gateway::start(&config(backend)).await;
    let client = client();
    for request in 0..20 {
        get_ok(&client, &gateway, &format!("request {request}")).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "20 sequential requests should reuse one kept-alive backend connection"
    );
}

#[tokio::test]
async fn a_connection_the_backend_closes_while_idle_is_closed_by_the_gateway_and_not_reused() {
    // Each connection answers one request and half-closes; the backend then reports when the
    // gateway has closed its side.
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
    let (backend, accepted) = counting_backend(move |mut stream| {
        let closed_tx = closed_tx.clone();
        async move {
            if !read_head(&mut stream).await || stream.write_all(ANSWER).await.is_err() {
                return;
            }
            let _ = stream.shutdown().await;
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
            let _ = closed_tx.send(());
        }
    })
    .await;
    let gateway = Gateway::start(&config(backend)).await;
    let client = client();
    get_ok(&client, &gateway, "the first request").await;
    tokio::time::timeout(Duration::from_secs(5), closed_rx.recv())
        .await
        .expect("the gateway kept a connection the backend closed open for 5 s")
        .expect("the backend reports each close");
    for request in 0..3 {
        get_ok(
            &client,
            &gateway,
            &format!("request {request} after the close"),
        )
        .await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        4,
        "each request needed a new connection: a closed one must not be reused"
    );
}
