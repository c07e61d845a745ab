//! JSON access log: one line per request with AWS-style `$context` field names, written by a
//! background thread so the request path never blocks on I/O.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};

use serde::Serialize;

/// One access-log line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord<'a> {
    /// `$context.requestId`.
    pub request_id: &'a str,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub request_time_epoch: u128,
    /// `$context.identity.sourceIp`.
    pub source_ip: String,
    /// `$context.apiId`.
    pub api_id: &'a str,
    /// `$context.stage`.
    pub stage: &'a str,
    /// `$context.routeKey`.
    pub route_key: &'a str,
    /// `$context.httpMethod`.
    pub http_method: &'a str,
    /// `$context.path`.
    pub path: &'a str,
    /// `$context.protocol`.
    pub protocol: &'a str,
    /// `$context.status`.
    pub status: u16,
    /// `$context.responseLength`: body bytes sent.
    pub response_length: usize,
    /// `$context.responseLatency` in ms.
    pub response_latency: f64,
    /// `$context.integrationLatency` in ms, when a backend was called.
    pub integration_latency: Option<f64>,
    /// `$context.error.responseType`, when the gateway answered with an error.
    pub error_type: Option<&'a str>,
    /// `$context.authorizer.principalId`, when an authorizer allowed the request.
    pub principal_id: Option<&'a str>,
    /// `$context.error.validationErrorString`, when request validation refused the request.
    pub validation_error: Option<&'a str>,
    /// `$context.identity.apiKeyId`, when an API key admitted the request.
    pub api_key_id: Option<&'a str>,
    /// `https` or `http`: how the client reached the gateway.
    pub scheme: &'a str,
    /// `TLSv1_3` or `TLSv1_2` over TLS.
    pub tls_version: Option<&'a str>,
    /// `$context.identity.clientCert.subjectDN`, when the client presented a certificate.
    #[serde(rename = "clientCertSubjectDN")]
    pub client_cert_subject_dn: Option<&'a str>,
    /// `$context.identity.clientCert.serialNumber`.
    pub client_cert_serial_number: Option<&'a str>,
}

/// Where access-log lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    sender: Option<Sender<String>>,
}

impl AccessLog {
    /// Open the access log: `"stdout"`, `"off"` or a file path (appended to).
    pub fn open(target: &str) -> io::Result<Self> {
        let writer: Box<dyn Write + Send> = match target {
            "off" => return Ok(Self { sender: None }),
            "stdout" => Box::new(io::stdout()),
            path => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        };
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || write_lines(receiver, writer))?;
        Ok(Self {
            sender: Some(sender),
        })
    }

    /// Whether records are written at all (skip building them when not).
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queue one record.
    pub fn write(&self, record: &AccessRecord<'_>) {
        let Some(sender) = &self.sender else {
            return;
        };
        match serde_json::to_string(record) {
            Ok(line) => {
                let _ = sender.send(line);
            }
            Err(e) => log::error!("cannot encode access log record: {e}"),
        }
    }
}

/// Lines are gathered into one buffer per batch and handed to the writer whole, so every write
/// ends at a line boundary and a reader tailing the file never sees half a record.
fn write_lines(receiver: Receiver<String>, mut out: Box<dyn Write + Send>) {
    const BATCH_BYTES: usize = 64 * 1024;
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    while let Ok(line) = receiver.recv() {
        push_line(&mut batch, &line);
        while batch.len() < BATCH_BYTES {
            match receiver.try_recv() {
                Ok(line) => push_line(&mut batch, &line),
                Err(_) => break,
            }
        }
        if let Err(e) = out.write_all(&batch).and_then(|_| out.flush()) {
            log::error!("cannot write access log: {e}");
        }
        batch.clear();
    }
}

fn push_line(batch: &mut Vec<u8>, line: &str) {
    batch.extend_from_slice(line.as_bytes());
    batch.push(b'\n');
}
