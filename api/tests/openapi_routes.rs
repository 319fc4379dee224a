//! `openapi.yaml` and the route table must list the same (method, path) pairs.

use std::collections::BTreeSet;

use tidings_api::routes::ROUTES;

#[test]
fn openapi_lists_exactly_the_served_routes() {
    let doc: serde_yaml::Value = serde_yaml::from_str(tidings_api::OPENAPI_YAML).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().unwrap();
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                documented.insert((method, path.to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.pattern.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
}
