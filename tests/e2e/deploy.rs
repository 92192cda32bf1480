//! The SpinKube manifests in `deploy/` agree with `spin.toml`: one SpinApp per
//! component (running only it), every variable each component declares (and every
//! required one) bound, secrets only from Secrets, one shared Redis runtime config,
//! and an Ingress path for every route to the group that serves it. So they cannot
//! rot when a route, a component or a variable is added.

use std::collections::{BTreeMap, BTreeSet};

use provider_e2e::workspace_root;
use serde::Deserialize;
use serde_yaml::Value;

fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(workspace_root().join("deploy").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

fn manifest() -> toml::Table {
    std::fs::read_to_string(workspace_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[test]
fn spinkube_manifests_cover_every_component_route_and_variable_of_spin_toml() {
    let manifest = manifest();
    let app_vars = manifest["variables"].as_table().unwrap();
    let secret: BTreeSet<&str> = app_vars
        .iter()
        .filter(|(_, v)| v.get("secret").and_then(toml::Value::as_bool) == Some(true))
        .map(|(k, _)| k.as_str())
        .collect();
    let required: BTreeSet<&str> = app_vars
        .iter()
        .filter(|(_, v)| v.get("required").and_then(toml::Value::as_bool) == Some(true))
        .map(|(k, _)| k.as_str())
        .collect();
    let components = manifest["component"].as_table().unwrap();

    // One SpinApp per component, from one image, with the shared runtime config.
    let apps = documents("spinapps.yaml");
    let mut by_component: BTreeMap<String, &Value> = BTreeMap::new();
    let images: BTreeSet<&str> = apps.iter().map(|a| text(&a["spec"]["image"])).collect();
    assert_eq!(images.len(), 1, "one image for every group: {images:?}");
    for app in &apps {
        assert_eq!(text(&app["kind"]), "SpinApp");
        assert_eq!(text(&app["apiVersion"]), "core.spinkube.dev/v1alpha1");
        let spec = &app["spec"];
        assert_eq!(text(&spec["executor"]), "containerd-shim-spin");
        assert_eq!(
            text(&spec["runtimeConfig"]["loadFromSecret"]),
            "ocean-provider-runtime"
        );
        let selected = spec["components"].as_sequence().unwrap();
        assert_eq!(selected.len(), 1, "{app:?}");
        let id = text(&selected[0]).to_owned();
        assert_eq!(
            text(&app["metadata"]["name"]),
            format!("ocean-provider-{id}")
        );
        assert!(
            by_component.insert(id, app).is_none(),
            "two SpinApps for one group"
        );
    }
    let ids: BTreeSet<&str> = components.keys().map(String::as_str).collect();
    assert_eq!(
        by_component
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        ids
    );

    // Variables: what each component declares, plus every required one (SpinKube
    // refuses an app whose required variables are unbound); secrets from Secrets.
    for (id, component) in components {
        let declared: BTreeSet<&str> = component
            .get("variables")
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let bound: BTreeMap<&str, &Value> = by_component[id]["spec"]["variables"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| (text(&v["name"]), v))
            .collect();
        for name in declared.iter().chain(&required) {
            let binding = bound
                .get(name)
                .unwrap_or_else(|| panic!("{id}: {name} is not bound"));
            if secret.contains(name) {
                assert!(
                    binding.get("value").is_none(),
                    "{id}: secret {name} as a literal"
                );
                assert_eq!(
                    text(&binding["valueFrom"]["secretKeyRef"]["name"]),
                    "ocean-provider-keys",
                    "{id}: {name}"
                );
            } else {
                assert!(
                    binding.get("value").is_some()
                        || text(&binding["valueFrom"]["configMapKeyRef"]["name"])
                            == "ocean-provider-config",
                    "{id}: {name}"
                );
            }
        }
        for name in bound.keys() {
            assert!(
                app_vars.contains_key(*name),
                "{id}: {name} is not a variable of spin.toml"
            );
        }
    }

    // The ConfigMap holds exactly the non-secret variables; the Secret the secret ones.
    let config = &documents("config.yaml")[0];
    let config_keys: BTreeSet<&str> = config["data"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(text)
        .collect();
    let non_secret: BTreeSet<&str> = app_vars
        .keys()
        .map(String::as_str)
        .filter(|k| !secret.contains(k))
        .collect();
    assert_eq!(config_keys, non_secret);
    let secrets = documents("secrets.yaml");
    let keys = secrets
        .iter()
        .find(|s| text(&s["metadata"]["name"]) == "ocean-provider-keys")
        .unwrap();
    let secret_keys: BTreeSet<&str> = keys["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(text)
        .collect();
    assert_eq!(secret_keys, secret);
    // The runtime config: one Redis for every pod, the SSRF guard on.
    let runtime = secrets
        .iter()
        .find(|s| text(&s["metadata"]["name"]) == "ocean-provider-runtime")
        .unwrap();
    let runtime: toml::Table = text(&runtime["stringData"]["runtime-config.toml"])
        .parse()
        .unwrap();
    assert_eq!(
        runtime["key_value_store"]["default"]["type"].as_str(),
        Some("redis")
    );
    assert!(
        runtime["key_value_store"]["default"]["url"]
            .as_str()
            .unwrap()
            .starts_with("redis://")
    );
    assert_eq!(
        runtime["outbound_networking"]["block_networks"],
        toml::Value::Array(vec!["private".into()])
    );

    // The Ingress: every route to the Service of the group that serves it.
    let ingress = &documents("ingress.yaml")[0];
    let paths: BTreeMap<(&str, &str), &str> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (text(&p["path"]), text(&p["pathType"])),
                text(&p["backend"]["service"]["name"]),
            )
        })
        .collect();
    let mut expected = BTreeMap::new();
    for trigger in manifest["trigger"]["http"].as_array().unwrap() {
        let route = trigger["route"].as_str().unwrap();
        let service = format!("ocean-provider-{}", trigger["component"].as_str().unwrap());
        let key = match route {
            "/" | "/..." => ("/".to_owned(), "Prefix"),
            exact => (exact.to_owned(), "Exact"),
        };
        expected.insert(key, service);
    }
    let expected: BTreeMap<(&str, &str), &str> = expected
        .iter()
        .map(|((p, t), s)| ((p.as_str(), *t), s.as_str()))
        .collect();
    assert_eq!(paths, expected);
}
