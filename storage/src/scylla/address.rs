//! `scylla://host:port[,host:port...]/keyspace[?replication=...]`: where a
//! ScyllaDB (or Cassandra) cluster is and which keyspace is this environment's.

use std::fmt;

use super::schema::Layout;
use crate::error::{StoreError, StoreResult};

/// How the keyspace is replicated when `tidings migrate` creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replication {
    /// `SimpleStrategy` with this many replicas (one data center).
    Simple(u32),
    /// `NetworkTopologyStrategy`: replicas per data center.
    PerDatacenter(Vec<(String, u32)>),
}

impl Replication {
    /// The CQL map literal for `CREATE KEYSPACE ... WITH replication = ...`.
    pub fn cql(&self) -> String {
        match self {
            Replication::Simple(n) => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {n}}}")
            }
            Replication::PerDatacenter(dcs) => {
                let mut s = String::from("{'class': 'NetworkTopologyStrategy'");
                for (dc, n) in dcs {
                    s.push_str(&format!(", '{dc}': {n}"));
                }
                s.push('}');
                s
            }
        }
    }

    /// Parses `3` (simple) or `dc1:3,dc2:2` (per data center).
    pub fn parse(s: &str) -> StoreResult<Self> {
        let bad = || {
            StoreError::invalid(
                "replication",
                format!("{s:?} is neither a replica count (3) nor dc:count pairs (dc1:3,dc2:3)"),
            )
        };
        if let Ok(n) = s.parse::<u32>() {
            return if n == 0 {
                Err(bad())
            } else {
                Ok(Self::Simple(n))
            };
        }
        let mut dcs = Vec::new();
        for part in s.split(',') {
            let (dc, n) = part.split_once(':').ok_or_else(bad)?;
            let ok_name = !dc.is_empty()
                && dc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            let n: u32 = n.parse().map_err(|_| bad())?;
            if !ok_name || n == 0 {
                return Err(bad());
            }
            dcs.push((dc.to_owned(), n));
        }
        Ok(Self::PerDatacenter(dcs))
    }
}

impl fmt::Display for Replication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replication::Simple(n) => write!(f, "{n}"),
            Replication::PerDatacenter(dcs) => {
                let parts: Vec<String> = dcs.iter().map(|(d, n)| format!("{d}:{n}")).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// A parsed `scylla://` store address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaAddress {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// The keyspace: one per environment (`tidings_dev`, `tidings_prod`, ...).
    pub keyspace: String,
    /// Used when the keyspace is created; `?replication=` in the address.
    pub replication: Replication,
    /// Preferred data center for LOCAL_* consistency; `?dc=` in the address.
    pub local_dc: Option<String>,
    /// Bucket sizes for a keyspace `migrate` creates (`?message_bucket=`,
    /// `post_bucket=`, `event_bucket=`); an existing keyspace keeps its own.
    pub layout: Layout,
}

impl ScyllaAddress {
    /// Parses `scylla://host:port[,host:port]/keyspace[?replication=3&dc=dc1]`.
    pub fn parse(url: &str) -> StoreResult<Self> {
        let field = "store";
        let rest = url.strip_prefix("scylla://").ok_or_else(|| {
            StoreError::invalid(field, format!("{url:?} does not start with scylla://"))
        })?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, keyspace) = rest.split_once('/').ok_or_else(|| {
            StoreError::invalid(
                field,
                format!("{url:?} names no keyspace: scylla://host:port/keyspace"),
            )
        })?;
        let valid_ks = !keyspace.is_empty()
            && keyspace.len() <= 48
            && keyspace.as_bytes()[0].is_ascii_alphabetic()
            && keyspace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_ks {
            return Err(StoreError::invalid(
                field,
                format!("keyspace {keyspace:?} must be 1-48 letters, digits or _, starting with a letter"),
            ));
        }
        let mut nodes = Vec::new();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            nodes.push(
                if host
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                {
                    host.to_owned()
                } else {
                    format!("{host}:9042")
                },
            );
        }
        if nodes.is_empty() {
            return Err(StoreError::invalid(
                field,
                format!("{url:?} names no host: scylla://host:port/keyspace"),
            ));
        }
        let mut replication = Replication::Simple(1);
        let mut local_dc = None;
        let mut layout = Layout::default();
        let size = |name: &str, v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (2..=1_000_000).contains(n))
                .ok_or_else(|| {
                    StoreError::invalid(field, format!("{name}={v:?}: expected 2..=1000000"))
                })
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("replication", v)) => replication = Replication::parse(v)?,
                Some(("dc", v)) if !v.is_empty() => local_dc = Some(v.to_owned()),
                Some(("message_bucket", v)) => layout.message_bucket = size("message_bucket", v)?,
                Some(("post_bucket", v)) => layout.post_bucket = size("post_bucket", v)?,
                Some(("event_bucket", v)) => layout.event_bucket = size("event_bucket", v)?,
                _ => {
                    return Err(StoreError::invalid(
                        field,
                        format!("unknown option {pair:?}: expected replication=, dc= or *_bucket="),
                    ))
                }
            }
        }
        Ok(Self {
            nodes,
            keyspace: keyspace.to_owned(),
            replication,
            local_dc,
            layout,
        })
    }
}

impl fmt::Display for ScyllaAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scylla://{}/{}?replication={}",
            self.nodes.join(","),
            self.keyspace,
            self.replication
        )?;
        if let Some(dc) = &self.local_dc {
            write!(f, "&dc={dc}")?;
        }
        let d = Layout::default();
        let l = &self.layout;
        for (name, v, default) in [
            ("message_bucket", l.message_bucket, d.message_bucket),
            ("post_bucket", l.post_bucket, d.post_bucket),
            ("event_bucket", l.event_bucket, d.event_bucket),
        ] {
            if v != default {
                write!(f, "&{name}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_keyspace_and_options() {
        let a = ScyllaAddress::parse(
            "scylla://10.0.0.1:9042,10.0.0.2/tidings_prod?replication=dc1:3&dc=dc1",
        )
        .unwrap();
        assert_eq!(a.nodes, ["10.0.0.1:9042", "10.0.0.2:9042"]);
        assert_eq!(a.keyspace, "tidings_prod");
        assert_eq!(
            a.replication,
            Replication::PerDatacenter(vec![("dc1".into(), 3)])
        );
        assert_eq!(a.local_dc.as_deref(), Some("dc1"));
        assert_eq!(ScyllaAddress::parse(&a.to_string()).unwrap(), a);
        let b = ScyllaAddress::parse("scylla://127.0.0.1:9042/dev").unwrap();
        assert_eq!(b.replication, Replication::Simple(1));
        assert_eq!(b.layout, Layout::default());
        let c = ScyllaAddress::parse("scylla://h/ks?message_bucket=16&event_bucket=8").unwrap();
        assert_eq!(c.layout.message_bucket, 16);
        assert_eq!(c.layout.event_bucket, 8);
        assert_eq!(ScyllaAddress::parse(&c.to_string()).unwrap(), c);
        assert!(ScyllaAddress::parse("scylla://h/ks?post_bucket=1").is_err());
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "sqlite://x",
            "scylla://127.0.0.1:9042",
            "scylla:///ks",
            "scylla://h/1ks",
            "scylla://h/ks-x",
            "scylla://h/ks?replication=0",
            "scylla://h/ks?replication=dc1",
            "scylla://h/ks?x=1",
        ] {
            assert!(ScyllaAddress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Replication::parse("3").unwrap().cql(),
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
    }
}
