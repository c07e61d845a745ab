//! Reading certificates, keys, CRLs and OCSP responses from files, each failure naming the file.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Why a TLS file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// No `CERTIFICATE` block, or one that is not an X.509 certificate.
    #[error("`{path}` holds no PEM certificate{detail}")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What was wrong with what it holds, when something was there.
        detail: String,
    },
    /// No private key block.
    #[error("`{0}` holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(PathBuf),
    /// Neither a PEM nor a DER CRL.
    #[error("`{0}` holds no certificate revocation list (PEM `X509 CRL` or DER)")]
    NoCrl(PathBuf),
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in the PEM file at `path`, in order (a chain: leaf first), each checked to
/// parse as X.509.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let bytes = read(path)?;
    let no_certificate = |detail: String| FileError::NoCertificate {
        path: path.to_path_buf(),
        detail,
    };
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| no_certificate(format!(": {e}")))?;
    if certificates.is_empty() {
        return Err(no_certificate(String::new()));
    }
    for certificate in &certificates {
        x509_parser::parse_x509_certificate(certificate)
            .map_err(|e| no_certificate(format!(": not an X.509 certificate ({e})")))?;
    }
    Ok(certificates)
}

/// The first private key in the PEM file at `path`.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| FileError::NoKey(path.to_path_buf()))
}

/// The revocation lists in the file at `path`: PEM blocks, or one DER list.
pub fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, FileError> {
    let bytes = read(path)?;
    let pem: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if !pem.is_empty() {
        return Ok(pem);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    Err(FileError::NoCrl(path.to_path_buf()))
}

/// The raw bytes of the file at `path` (a DER OCSP response).
pub fn raw(path: &Path) -> Result<Vec<u8>, FileError> {
    read(path)
}
