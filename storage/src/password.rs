//! Password hashing with argon2id. The store keeps only [`PasswordHash`]es,
//! and the only way to make one from a password is [`PasswordHash::hash`].

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A salted argon2id hash in PHC string form.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// How costly hashing is. The default follows OWASP's argon2id guidance
/// (19 MiB, 2 passes); tests use [`HashCost::Fast`] to stay quick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashCost {
    #[default]
    Standard,
    Fast,
}

fn argon2(cost: HashCost) -> Argon2<'static> {
    let params = match cost {
        HashCost::Standard => Params::new(19 * 1024, 2, 1, None),
        HashCost::Fast => Params::new(1024, 1, 1, None),
    }
    .expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt. This is slow on purpose.
    pub fn hash(password: &str, cost: HashCost) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2(cost)
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 hashing with valid parameters cannot fail");
        Self(phc.to_string())
    }

    /// Whether `password` matches. The parameters come from the stored string.
    pub fn verify(&self, password: &str) -> bool {
        match argon2::PasswordHash::new(&self.0) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// The PHC string, for storing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Restores a hash read back from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_password() {
        let h = PasswordHash::hash("correct horse", HashCost::Fast);
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(h.verify("correct horse"));
        assert!(!h.verify("correct horsf"));
        let again = PasswordHash::hash("correct horse", HashCost::Fast);
        assert_ne!(h, again, "salts differ");
        assert!(!PasswordHash::from_stored("garbage".into()).verify("x"));
    }
}
