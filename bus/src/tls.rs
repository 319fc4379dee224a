//! Certificates for the bus.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls::pki_types::CertificateDer;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why the bus certificate could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("bus certificate file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating the bus certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("bus TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("bus QUIC configuration: {0}")]
    Quic(String),
}

/// The gateway's certificate and key (DER), which api nodes trust.
#[derive(Clone)]
pub struct BusTls {
    pub cert: CertificateDer<'static>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
}

impl std::fmt::Debug for BusTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusTls(..)")
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

impl BusTls {
    /// Loads `cert` and `key` (DER); if neither exists, generates a
    /// self-signed pair for the bus name and writes both (dev).
    pub fn load_or_generate(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        if !cert.exists() && !key.exists() {
            let generated = rcgen::generate_simple_self_signed(vec![
                crate::SERVER_NAME.to_owned(),
                "localhost".to_owned(),
            ])?;
            let write = |path: &Path, bytes: &[u8]| -> Result<(), TlsError> {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                // Write then rename, so a concurrent reader never sees half a file.
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, bytes).map_err(|source| TlsError::Io {
                    path: tmp.clone(),
                    source,
                })?;
                std::fs::rename(&tmp, path).map_err(|source| TlsError::Io {
                    path: path.to_owned(),
                    source,
                })
            };
            // Several processes may start at once: the one that creates the
            // lock file generates; the others wait for the certificate.
            let lock = cert.with_extension("lock");
            let mine = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
                .is_ok();
            if mine {
                write(key, &generated.key_pair.serialize_der())?;
                write(cert, generated.cert.der())?;
                let _ = std::fs::remove_file(&lock);
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !(cert.exists() && key.exists()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(Self {
            cert: CertificateDer::from(read(cert)?),
            key: Arc::new(PrivatePkcs8KeyDer::from(read(key)?)),
        })
    }

    /// Loads only the certificate, for api nodes that trust it.
    pub fn trust(cert: &Path) -> Result<CertificateDer<'static>, TlsError> {
        Ok(CertificateDer::from(read(cert)?))
    }

    pub(crate) fn server_config(&self) -> Result<quinn::ServerConfig, TlsError> {
        let key = PrivateKeyDer::Pkcs8(self.key.as_ref().clone_key());
        let mut config = quinn::ServerConfig::with_single_cert(vec![self.cert.clone()], key)
            .map_err(TlsError::from)?;
        config.transport_config(Arc::new(transport()));
        Ok(config)
    }
}

/// A client configuration trusting exactly `cert`.
pub(crate) fn client_config(
    cert: &CertificateDer<'static>,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone())?;
    let mut config = quinn::ClientConfig::with_root_certificates(Arc::new(roots))
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    config.transport_config(Arc::new(transport()));
    Ok(config)
}

/// Bus connections stay up while no delta flows: the api side pings every
/// 5 s, well inside the 30 s idle timeout both sides agree on. (Without
/// this, an idle connection timed out and the next delta was lost on it.)
pub(crate) fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(std::time::Duration::from_secs(30)).expect("30 s fits"),
    ));
    t
}
