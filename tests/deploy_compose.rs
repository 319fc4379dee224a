//! The ScyllaDB deployment file cannot run here (no container engine), so
//! this test holds it to what it can: it parses
//! `ops/deploy/scylla-cluster.compose.yml`, and checks its services and
//! ports against the table in `docs/DEPLOY.md`, its store address against
//! the scylla services, the bus wiring between api and gateways, and every
//! flag it passes against the real `tidings` CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_yaml::Value;
use tidings_storage::scylla::{Replication, ScyllaAddress};

const COMPOSE: &str = "ops/deploy/scylla-cluster.compose.yml";
const DOCS: &str = "docs/DEPLOY.md";

fn root(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    let mut v: Value = serde_yaml::from_str(&root(COMPOSE)).expect("valid YAML");
    v.apply_merge().expect("merge keys");
    v
}

fn services(v: &Value) -> BTreeMap<String, Value> {
    v["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, s)| {
            let mut s = s.clone();
            s.apply_merge().unwrap();
            (k.as_str().unwrap().to_owned(), s)
        })
        .collect()
}

/// `service -> (role, host port, container port)` from the docs table.
fn documented() -> BTreeMap<String, (String, String, String)> {
    root(DOCS)
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| service") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().to_owned()).collect();
            (
                cells[1].clone(),
                (cells[2].clone(), cells[3].clone(), cells[4].clone()),
            )
        })
        .collect()
}

fn command(s: &Value) -> Vec<String> {
    s["command"]
        .as_sequence()
        .map(|c| c.iter().map(|a| a.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn flag(cmd: &[String], name: &str) -> Option<String> {
    cmd.iter()
        .position(|a| a == name)
        .map(|i| cmd[i + 1].clone())
}

fn port_of(addr: &str) -> String {
    addr.rsplit(':').next().unwrap().to_owned()
}

#[test]
fn services_and_ports_match_the_docs() {
    let services = services(&compose());
    let docs = documented();
    assert_eq!(
        services.keys().collect::<BTreeSet<_>>(),
        docs.keys().collect::<BTreeSet<_>>(),
        "{COMPOSE} and the table in {DOCS} name the same services"
    );
    for (name, s) in &services {
        let (role, host, container) = &docs[name];
        let image = s["image"].as_str().unwrap_or_default();
        if role == "scylla" {
            assert!(image.starts_with("scylladb/scylla:"), "{name}: {image}");
            assert_eq!(container, "9042", "{name}: CQL port");
            continue;
        }
        let cmd = command(s);
        assert_eq!(&cmd[0], role, "{name} runs `tidings {role}`");
        let published: BTreeSet<(String, String)> = s["ports"]
            .as_sequence()
            .map(|p| {
                p.iter()
                    .map(|m| {
                        let m = m.as_str().unwrap().split('/').next().unwrap();
                        let (h, c) = m.split_once(':').unwrap();
                        (h.to_owned(), c.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if host == "-" {
            assert!(published.is_empty(), "{name} publishes no port");
        } else {
            assert_eq!(
                published,
                BTreeSet::from([(host.clone(), container.clone())]),
                "{name}: published ports"
            );
            let listen = flag(&cmd, "--listen").expect("--listen");
            assert_eq!(
                &port_of(&listen),
                container,
                "{name} listens where it publishes"
            );
        }
    }
}

#[test]
fn the_store_names_the_three_scylla_nodes_with_replication_three() {
    let v = compose();
    let services = services(&v);
    let url = v["x-store"].as_str().expect("x-store");
    let address = ScyllaAddress::parse(url).expect("a scylla:// address");
    let nodes: BTreeSet<String> = services
        .keys()
        .filter(|k| k.starts_with("scylla-"))
        .map(|k| format!("{k}:9042"))
        .collect();
    assert_eq!(nodes.len(), 3);
    assert_eq!(
        address.nodes.iter().cloned().collect::<BTreeSet<_>>(),
        nodes
    );
    assert_eq!(address.replication, Replication::Simple(3));
    assert!(
        root(DOCS).contains(&format!("`{}`", address.keyspace)),
        "the docs name the keyspace"
    );
    for (name, s) in &services {
        if !name.starts_with("scylla-") {
            assert_eq!(
                s["environment"]["TIDINGS_STORE"].as_str(),
                Some(url),
                "{name} uses the store"
            );
        }
    }
}

#[test]
fn apis_publish_to_every_gateway_bus() {
    let services = services(&compose());
    let buses: BTreeSet<String> = services
        .iter()
        .filter(|(_, s)| command(s).first().map(String::as_str) == Some("gateway"))
        .map(|(name, s)| {
            format!(
                "{name}:{}",
                port_of(&flag(&command(s), "--bus-listen").unwrap())
            )
        })
        .collect();
    assert_eq!(buses.len(), 2);
    for (name, s) in &services {
        let cmd = command(s);
        if cmd.first().map(String::as_str) == Some("api") {
            let targets: BTreeSet<String> = flag(&cmd, "--bus-gateways")
                .unwrap()
                .split(',')
                .map(str::to_owned)
                .collect();
            assert_eq!(targets, buses, "{name} publishes to every gateway");
        }
    }
}

fn reads_env(help: &str, var: &str) -> bool {
    help.contains(&format!("env: {var}=")) || help.contains(&format!("env: {var}]"))
}

#[test]
fn every_flag_and_variable_is_one_the_cli_takes() {
    let mut helps = Vec::new();
    for (name, s) in services(&compose()) {
        let cmd = command(&s);
        let Some(role) = cmd.first().filter(|_| !name.starts_with("scylla-")) else {
            continue;
        };
        let help = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args([role.as_str(), "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "tidings {role} --help");
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        for arg in cmd.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{arg} ")),
                "{name}: `tidings {role}` has no {arg}"
            );
        }
        for var in ["TIDINGS_STORE", "TIDINGS_DATA"] {
            assert!(
                reads_env(&help, var),
                "{name}: `tidings {role}` reads no {var}"
            );
        }
        helps.push((s, help));
    }
    // The shared environment: each variable is read by some role.
    for (s, _) in &helps {
        for var in s["environment"].as_mapping().unwrap().keys() {
            let var = var.as_str().unwrap();
            if var.starts_with("TIDINGS_") {
                assert!(
                    helps.iter().any(|(_, h)| reads_env(h, var)),
                    "no role reads {var}"
                );
            }
        }
    }
}
