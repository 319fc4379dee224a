//! Configurable limits, and the validation of user input against them.
//! Both backends call these, so a rule cannot differ between them.

use crate::error::{StoreError, StoreResult};

/// The contract's limits; every field has the contract's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub message_max_chars: usize,
    pub post_max_chars: usize,
    pub title_max_chars: usize,
    pub display_name_max_chars: usize,
    pub password_min_bytes: usize,
    pub password_max_bytes: usize,
    /// Members per chat (the contract allows configuring up to 100,000).
    pub max_chat_members: usize,
}

/// The contract's ceiling for [`Limits::max_chat_members`].
pub const MAX_CHAT_MEMBERS_CEILING: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Self {
            message_max_chars: 4000,
            post_max_chars: 10_000,
            title_max_chars: 100,
            display_name_max_chars: 64,
            password_min_bytes: 8,
            password_max_bytes: 128,
            max_chat_members: 1000,
        }
    }
}

/// The largest page a list call returns.
pub const MAX_PAGE: u32 = 200;
/// The page size when the caller names none.
pub const DEFAULT_PAGE: u32 = 50;

impl Limits {
    /// `^[a-z0-9_]{3,32}$`.
    pub fn username(&self, name: &str) -> StoreResult<()> {
        let ok = (3..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(StoreError::invalid(
                "username",
                "must be 3-32 characters of a-z, 0-9 and _",
            ))
        }
    }

    /// 8-128 bytes.
    pub fn password(&self, password: &str) -> StoreResult<()> {
        let n = password.len();
        if n < self.password_min_bytes || n > self.password_max_bytes {
            return Err(StoreError::invalid(
                "password",
                format!(
                    "must be {}-{} bytes",
                    self.password_min_bytes, self.password_max_bytes
                ),
            ));
        }
        Ok(())
    }

    /// 0..=64 characters, no control characters.
    pub fn display_name(&self, name: &str) -> StoreResult<()> {
        text_between("display_name", name, 0, self.display_name_max_chars)?;
        if name.chars().any(char::is_control) {
            return Err(StoreError::invalid(
                "display_name",
                "must not contain control characters",
            ));
        }
        Ok(())
    }

    /// 1..=4000 characters.
    pub fn message_body(&self, body: &str) -> StoreResult<()> {
        text_between("body", body, 1, self.message_max_chars)
    }

    /// 1..=10000 characters.
    pub fn post_body(&self, body: &str) -> StoreResult<()> {
        text_between("body", body, 1, self.post_max_chars)
    }

    /// 0..=100 characters.
    pub fn chat_title(&self, title: &str) -> StoreResult<()> {
        text_between("title", title, 0, self.title_max_chars)
    }

    /// A chat may hold `count` members.
    pub fn chat_size(&self, field: &str, count: usize) -> StoreResult<()> {
        if count > self.max_chat_members {
            return Err(StoreError::invalid(
                field,
                format!("a chat holds at most {} members", self.max_chat_members),
            ));
        }
        Ok(())
    }
}

/// A page size in 1..=200, 50 when absent.
pub fn page_limit(limit: Option<u32>) -> StoreResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(StoreError::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

fn text_between(field: &str, text: &str, min: usize, max: usize) -> StoreResult<()> {
    // Count characters (Unicode scalar values), not bytes: the contract says characters.
    let n = text.chars().count();
    if n < min || n > max {
        return Err(StoreError::invalid(
            field,
            format!("must be {min}-{max} characters, got {n}"),
        ));
    }
    if min > 0 && text.trim().is_empty() {
        return Err(StoreError::invalid(field, "must not be blank"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        let l = Limits::default();
        for ok in ["abc", "a_1", &"x".repeat(32)] {
            assert!(l.username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Abc", "a-b", "", &"x".repeat(33), "ab c", "ñam"] {
            assert!(l.username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_count_characters() {
        let l = Limits::default();
        assert!(l.message_body(&"é".repeat(4000)).is_ok());
        assert!(l.message_body(&"é".repeat(4001)).is_err());
        assert!(l.message_body("").is_err());
        assert!(l.message_body("   ").is_err());
        assert!(l.chat_title("").is_ok());
        assert!(l.post_body(&"p".repeat(10_001)).is_err());
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some(200)).unwrap(), 200);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(201)).is_err());
    }
}
