//! Bearer tokens: `v1.<user_id>.<expires_unix_s>.<signature>`, where the
//! signature is base64url(HMAC-SHA256(key, "v1.<user_id>.<expires_unix_s>")).
//!
//! Any api or gateway node holding the key verifies a token with one HMAC and
//! no storage lookup. Rotating the key revokes every outstanding token.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tidings_storage::UserId;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the token key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the token key must be at least 32 bytes of hex, got {0} bytes")]
    TooShort(usize),
    #[error("the token key is not valid hex")]
    NotHex,
}

/// The secret tokens are signed with.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, KeyError> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(KeyError::NotHex);
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| KeyError::NotHex))
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenKey {
    /// A key from hex text (at least 32 bytes).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let secret = decode_hex(hex)?;
        if secret.len() < 32 {
            return Err(KeyError::TooShort(secret.len()));
        }
        Ok(Self { secret })
    }

    /// A fresh random 32-byte key.
    pub fn generate() -> Self {
        Self {
            secret: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    /// Loads the key kept at `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                match opts.open(path) {
                    Ok(mut f) => {
                        std::io::Write::write_all(&mut f, encode_hex(&key.secret).as_bytes())
                            .map_err(io)?;
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_hex(&std::fs::read_to_string(path).map_err(io)?)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    fn sign(&self, payload: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key size");
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A token for `user` that expires at `expires_unix_s`.
    pub fn issue(&self, user: UserId, expires_unix_s: u64) -> String {
        let payload = format!("v1.{user}.{expires_unix_s}");
        let sig = self.sign(&payload);
        format!("{payload}.{sig}")
    }

    /// The user a token names, if it is genuine and unexpired at `now_unix_s`.
    pub fn verify(&self, token: &str, now_unix_s: u64) -> Result<UserId, TokenError> {
        let (payload, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let mut parts = payload.split('.');
        let (Some("v1"), Some(user), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let user: u64 = user.parse().map_err(|_| TokenError::Malformed)?;
        let exp: u64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        let given = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key size");
        mac.update(payload.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&given)
            .map_err(|_| TokenError::BadSignature)?;
        if now_unix_s >= exp {
            return Err(TokenError::Expired);
        }
        Ok(UserId(user))
    }

    /// The expiry a token carries, if it is well formed (not verified).
    pub fn expiry(token: &str) -> Option<u64> {
        token.split('.').nth(2)?.parse().ok()
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_and_verifies() {
        let key = TokenKey::generate();
        let t = key.issue(UserId(42), 1000);
        assert_eq!(key.verify(&t, 999), Ok(UserId(42)));
        assert_eq!(key.verify(&t, 1000), Err(TokenError::Expired));
        assert_eq!(TokenKey::expiry(&t), Some(1000));
    }

    #[test]
    fn refuses_forgeries() {
        let key = TokenKey::generate();
        let other = TokenKey::generate();
        let t = key.issue(UserId(42), 1000);
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        let forged = t.replacen("v1.42.", "v1.43.", 1);
        assert_eq!(key.verify(&forged, 0), Err(TokenError::BadSignature));
        for bad in ["", "v1", "v1.1.2", "v2.1.2.sig", "v1.x.2.sig", "v1.1.2.!!"] {
            assert_eq!(key.verify(bad, 0), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn keys_persist() {
        let dir = std::env::temp_dir().join(format!("tidings-key-{}", rand::random::<u64>()));
        let path = dir.join("token.key");
        let a = TokenKey::load_or_create(&path).unwrap();
        let b = TokenKey::load_or_create(&path).unwrap();
        let t = a.issue(UserId(1), u64::MAX);
        assert_eq!(b.verify(&t, 0), Ok(UserId(1)));
        assert!(TokenKey::from_hex("abcd").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
