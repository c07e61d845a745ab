//! Server certificates: a chain and its key made into what rustls serves, checked to belong
//! together and to cover the names they are served for.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;

use super::files::{self, FileError};

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The certificate or OCSP file is missing or holds the wrong thing.
    #[error(transparent)]
    File(#[from] FileError),
    /// The key file is missing or holds no key.
    #[error(transparent)]
    KeyFile(FileError),
    /// The key is of a kind rustls cannot sign with.
    #[error("`{path}`: unsupported private key: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What rustls said.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("`{key}` is not the private key of the certificate in `{certificate}`")]
    Mismatch {
        /// The certificate file.
        certificate: String,
        /// The key file.
        key: String,
    },
    /// Not a DER OCSP response with status `successful`.
    #[error("`{0}` is not a successful DER OCSP response")]
    Ocsp(String),
    /// The certificate does not name the domain.
    #[error("the certificate in `{certificate}` does not cover `{name}`")]
    NotCovering {
        /// The certificate file.
        certificate: String,
        /// The domain name.
        name: String,
    },
}

/// The chain at `certificate` with the key at `key` (and a stapled OCSP response from `ocsp`).
pub fn certified_key(
    certificate: &Path,
    key: &Path,
    ocsp: Option<&Path>,
) -> Result<Arc<CertifiedKey>, CertificateError> {
    let chain = files::certificates(certificate)?;
    let private_key = files::private_key(key).map_err(CertificateError::KeyFile)?;
    let signing_key =
        rustls::crypto::ring::sign::any_supported_type(&private_key).map_err(|e| {
            CertificateError::Key {
                path: key.display().to_string(),
                reason: e.to_string(),
            }
        })?;
    let mut certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|_| CertificateError::Mismatch {
            certificate: certificate.display().to_string(),
            key: key.display().to_string(),
        })?;
    if let Some(ocsp) = ocsp {
        let response = files::raw(ocsp)?;
        if !is_successful_ocsp_response(&response) {
            return Err(CertificateError::Ocsp(ocsp.display().to_string()));
        }
        certified.ocsp = Some(response);
    }
    Ok(Arc::new(certified))
}

/// Whether `der` is an `OCSPResponse` (RFC 6960) whose `responseStatus` is `successful`: what
/// a client can use when it is stapled.
fn is_successful_ocsp_response(der: &[u8]) -> bool {
    use x509_parser::der_parser::ber::BerObjectContent;
    let Ok((rest, response)) = x509_parser::der_parser::parse_der(der) else {
        return false;
    };
    let fields = response
        .as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_default();
    rest.is_empty() && fields.len() == 2 && matches!(fields[0].content, BerObjectContent::Enum(0))
}

/// Whether the leaf of `chain` is valid for `name` (`*.example.com` checked with a name one
/// label below it).
pub fn covers(leaf: &CertificateDer<'_>, name: &str) -> bool {
    let probe = match name.strip_prefix("*.") {
        Some(parent) => format!("wildcard-probe.{parent}"),
        None => name.to_string(),
    };
    let (Ok(parsed), Ok(server_name)) = (
        ParsedCertificate::try_from(leaf),
        ServerName::try_from(probe.as_str()),
    ) else {
        return false;
    };
    rustls::client::verify_server_name(&parsed, &server_name).is_ok()
}
