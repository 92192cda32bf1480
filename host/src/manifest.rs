//! The Spin application manifest (`spin.toml`, `spin_manifest_version = 2`).
//!
//! Only the parts this host implements are read; unknown keys are ignored, so a
//! manifest written for real Spin loads unchanged. Features a component uses that this
//! host cannot provide (`files`, SQLite databases, AI models, remote sources, inline
//! components) are reported as errors naming the component, instead of failing later.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[variables]` entry: `{ default = "...", required = bool, secret = bool }`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct VariableDecl {
    /// The default value.
    #[serde(default)]
    pub default: Option<String>,
    /// Startup fails if no provider gives a value.
    #[serde(default)]
    pub required: bool,
    /// Never printed (this host prints no variable values at all).
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    #[serde(default)]
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Default, Deserialize)]
struct RawApplication {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    /// Other trigger types (redis, cron, …): not served by this host.
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
struct RawHttpTrigger {
    #[serde(default)]
    route: Option<toml::Value>,
    #[serde(default)]
    component: Option<toml::Value>,
    #[serde(default)]
    executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
}

/// A component as this host runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentDecl {
    /// The component id (`[component.<id>]`).
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// Key-value store labels it may open.
    pub key_value_stores: Vec<String>,
    /// Raw `allowed_outbound_hosts` entries (may contain templates).
    pub allowed_outbound_hosts: Vec<String>,
    /// `[component.<id>.variables]`: name → template.
    pub variables: BTreeMap<String, String>,
    /// `environment`: environment variables visible to the guest.
    pub environment: BTreeMap<String, String>,
}

/// A parsed manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `[application] name`.
    pub name: String,
    /// The directory the manifest is in (relative sources are resolved against it).
    pub dir: PathBuf,
    /// `[variables]`.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` as (route, component id), in manifest order.
    pub http_routes: Vec<(String, String)>,
    /// Components that have at least one HTTP route, by id.
    pub components: BTreeMap<String, ComponentDecl>,
    /// Notes for the operator about ignored manifest content.
    pub warnings: Vec<String>,
}

/// Resolves `-f`: a file, or a directory containing `spin.toml`.
pub fn locate(from: Option<&Path>) -> Result<PathBuf> {
    let from = from.unwrap_or(Path::new("spin.toml"));
    let path = if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_path_buf()
    };
    if !path.is_file() {
        bail!("manifest not found: {}", path.display());
    }
    Ok(path)
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text; `dir` is the directory relative paths are resolved against.
    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            // toml's message spans several lines; keep the first one (it names the key).
            let msg = e.to_string();
            anyhow::anyhow!("{}", msg.lines().next().unwrap_or("TOML error").trim())
        })?;
        match raw.spin_manifest_version.as_integer() {
            Some(2) => {}
            _ => bail!(
                "unsupported spin_manifest_version {:?} (only 2 is supported)",
                raw.spin_manifest_version
            ),
        }
        let mut warnings = Vec::new();
        for other in raw.trigger.other.keys() {
            warnings.push(format!(
                "trigger type `{other}` is not supported by spin-host and is ignored"
            ));
        }

        let mut http_routes = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        for (i, t) in raw.trigger.http.iter().enumerate() {
            let what = format!("trigger.http[{i}]");
            let component = match &t.component {
                Some(toml::Value::String(s)) => s.clone(),
                Some(_) => bail!(
                    "{what}: inline components are not supported by spin-host; use `component = \"<id>\"`"
                ),
                None => bail!("{what}: missing `component`"),
            };
            if !raw.component.contains_key(&component) {
                bail!("{what}: component `{component}` is not defined");
            }
            if let Some(exec) = &t.executor {
                let ty = exec.get("type").and_then(toml::Value::as_str).unwrap_or("");
                if ty != "spin" {
                    bail!(
                        "{what}: executor {ty:?} is not supported by spin-host (only the default WASI HTTP executor)"
                    );
                }
            }
            match &t.route {
                Some(toml::Value::String(route)) => {
                    http_routes.push((route.clone(), component.clone()));
                }
                Some(toml::Value::Table(t))
                    if t.get("private").and_then(toml::Value::as_bool) == Some(true) =>
                {
                    warnings.push(format!(
                        "{what}: private route for `{component}` is not reachable (no service chaining in spin-host)"
                    ));
                }
                Some(_) => bail!("{what}: `route` must be a string"),
                None => bail!("{what}: missing `route`"),
            }
            used.insert(component);
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            if !used.contains(&id) {
                continue;
            }
            let source = match &c.source {
                toml::Value::String(s) => dir.join(s),
                _ => {
                    bail!("component `{id}`: only a local file `source` is supported by spin-host")
                }
            };
            if !c.files.is_empty() {
                bail!("component `{id}`: `files` is not supported by spin-host");
            }
            if !c.sqlite_databases.is_empty() {
                bail!("component `{id}`: `sqlite_databases` is not supported by spin-host");
            }
            if !c.ai_models.is_empty() {
                bail!("component `{id}`: `ai_models` is not supported by spin-host");
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    id,
                    source,
                    key_value_stores: c.key_value_stores,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    variables: c.variables,
                    environment: c.environment,
                },
            );
        }

        Ok(Self {
            name: raw
                .application
                .name
                .unwrap_or_else(|| "spin-app".to_owned()),
            dir: dir.to_path_buf(),
            variables: raw.variables,
            http_routes,
            components,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const OK: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
unknown_key = 1
[application.trigger.http]
base = "/"
[variables]
a = { default = "x" }
b = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "one"
[[trigger.http]]
route = "/x"
component = "one"
[[trigger.redis]]
channel = "c"
component = "two"
[component.one]
source = "target/one.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["https://example.com"]
description = "ignored"
[component.one.variables]
v = "{{ a }}"
[component.one.build]
command = "cargo build"
[component.two]
source = "two.wasm"
files = ["x"]
"#;

    #[test]
    fn parses_the_supported_subset() {
        let m = Manifest::parse(OK, Path::new("/app")).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.http_routes.len(), 2);
        assert_eq!(m.components.len(), 1, "`two` has no HTTP route");
        let one = &m.components["one"];
        assert_eq!(one.source, PathBuf::from("/app/target/one.wasm"));
        assert_eq!(one.key_value_stores, ["default"]);
        assert_eq!(one.variables["v"], "{{ a }}");
        assert!(m.variables["b"].required && m.variables["b"].secret);
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("spin_manifest_version = 1", "spin_manifest_version"),
            ("spin_manifest_version = \"1\"", "spin_manifest_version"),
            ("not toml [", ""),
            (
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"",
                "`nope` is not defined",
            ),
            (
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = { source = \"x.wasm\" }",
                "inline components",
            ),
            (
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nfiles = [\"static\"]",
                "component `c`: `files`",
            ),
            (
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = { url = \"https://x\", digest = \"sha256:0\" }",
                "component `c`",
            ),
        ];
        for (text, expect) in cases {
            let err = format!("{:#}", Manifest::parse(text, Path::new(".")).unwrap_err());
            assert!(err.contains(expect), "{text}: {err}");
        }
    }
}
