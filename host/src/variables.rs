//! Application variables (`[variables]`), component variable templates, and the
//! `fermyon:spin/variables` name rules.
//!
//! Values come from, in order of precedence: the environment (`SPIN_VARIABLE_<NAME>`,
//! always read, as Spin's default env provider does), then the declared `default`.
//! Everything is resolved once at startup, so a missing required variable or a template
//! that names an undeclared variable is a startup error rather than a request-time one.

use crate::manifest::VariableDecl;
use anyhow::{Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Whether `name` is a valid variable name: `^[a-z][a-z0-9_]*$`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// `{{ name }}`: the value of an application variable.
    Var(String),
}

/// A parsed `"literal {{ var }} literal"` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    /// Parses a template. Whitespace inside the braces is allowed; an unterminated
    /// `{{` or an invalid variable name is an error.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unterminated `{{{{` in template {s:?}");
            };
            let name = after[..end].trim();
            if !is_valid_name(name) {
                bail!("invalid variable reference {name:?} in template {s:?}");
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    /// Whether the template has no variable references.
    pub fn is_literal(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The variables referenced by this template.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }
}

/// Resolved application variables. `Debug` and `Display` never show values.
#[derive(Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for AppVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppVariables")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AppVariables {
    /// Resolves the declared variables. `env` looks up an environment variable (a
    /// parameter so that tests need not touch the process environment).
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            if !is_valid_name(name) {
                bail!("invalid variable name {name:?}: names must match ^[a-z][a-z0-9_]*$");
            }
            if decl.required && decl.default.is_some() {
                bail!("variable `{name}` is required but also has a default value");
            }
            let from_env = env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()));
            match from_env.or_else(|| decl.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "no provider resolved required variable(s): {}",
                missing.join(", ")
            );
        }
        Ok(Self { values })
    }

    /// Whether `name` is a declared application variable.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Expands a template. Every reference must name a declared variable.
    pub fn expand(&self, template: &Template) -> Result<String> {
        let mut out = String::new();
        for part in &template.0 {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => match self.values.get(v) {
                    Some(value) => out.push_str(value),
                    None => bail!("template references undeclared application variable `{v}`"),
                },
            }
        }
        Ok(out)
    }

    /// Parses and expands a template string.
    pub fn expand_str(&self, template: &str) -> Result<String> {
        self.expand(&Template::parse(template)?)
    }
}

/// The variables one component can read through `fermyon:spin/variables`.
#[derive(Clone, Default)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for ComponentVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentVariables")
            .field("names", &self.values.keys().collect::<BTreeSet<_>>())
            .finish()
    }
}

/// Why `variables.get` failed (mirrors the WIT `error` variant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetError {
    /// The name does not match `^[a-z][a-z0-9_]*$`.
    InvalidName(String),
    /// The component declares no such variable.
    Undefined(String),
}

impl ComponentVariables {
    /// Resolves a component's `[component.<id>.variables]` table.
    pub fn resolve(
        component: &str,
        decls: &BTreeMap<String, String>,
        app: &AppVariables,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, template) in decls {
            if !is_valid_name(name) {
                bail!(
                    "component `{component}`: invalid variable name {name:?} (names must match ^[a-z][a-z0-9_]*$)"
                );
            }
            let value = app
                .expand_str(template)
                .map_err(|e| anyhow::anyhow!("component `{component}`: variable `{name}`: {e}"))?;
            values.insert(name.clone(), value);
        }
        Ok(Self { values })
    }

    /// `fermyon:spin/variables.get` semantics.
    pub fn get(&self, name: &str) -> Result<String, GetError> {
        if !is_valid_name(name) {
            return Err(GetError::InvalidName(name.to_owned()));
        }
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| GetError::Undefined(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_owned),
            required,
            secret: false,
        }
    }

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut d = BTreeMap::new();
        d.insert("region".to_owned(), decl(Some("eu"), false));
        d.insert("token".to_owned(), decl(None, true));
        d.insert("empty".to_owned(), decl(Some(""), false));
        d
    }

    #[test]
    fn names() {
        for ok in ["a", "abc", "a_b_1", "x9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "1a", "_a", "a-b", "aB", "a b", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_and_env_override() {
        let env = |k: &str| match k {
            "SPIN_VARIABLE_TOKEN" => Some("t0k".to_owned()),
            "SPIN_VARIABLE_REGION" => Some("us".to_owned()),
            _ => None,
        };
        let app = AppVariables::resolve(&decls(), env).unwrap();
        assert_eq!(app.expand_str("{{ region }}").unwrap(), "us");
        assert_eq!(app.expand_str("{{token}}").unwrap(), "t0k");
        assert_eq!(app.expand_str("[{{empty}}]").unwrap(), "[]");

        let env = |k: &str| (k == "SPIN_VARIABLE_TOKEN").then(|| "x".to_owned());
        let app = AppVariables::resolve(&decls(), env).unwrap();
        assert_eq!(app.expand_str("{{ region }}").unwrap(), "eu", "default");
        assert!(
            !format!("{app:?}").contains('x'),
            "Debug must not show values"
        );
    }

    #[test]
    fn required_missing_names_every_variable() {
        let mut d = decls();
        d.insert("other".to_owned(), decl(None, true));
        let err = AppVariables::resolve(&d, |_| None).unwrap_err().to_string();
        assert_eq!(
            err,
            "no provider resolved required variable(s): other, token"
        );
    }

    #[test]
    fn required_with_default_and_bad_names_are_rejected() {
        let mut d = BTreeMap::new();
        d.insert("x".to_owned(), decl(Some("1"), true));
        assert!(AppVariables::resolve(&d, |_| None).is_err());
        let mut d = BTreeMap::new();
        d.insert("Bad".to_owned(), decl(Some("1"), false));
        assert!(AppVariables::resolve(&d, |_| None).is_err());
    }

    #[test]
    fn templates() {
        let t = Template::parse("https://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["host", "port"]);
        assert!(!t.is_literal());
        assert!(Template::parse("plain").unwrap().is_literal());
        assert!(Template::parse("").unwrap().is_literal());
        assert!(Template::parse("{{ unterminated").is_err());
        assert!(Template::parse("{{ Upper }}").is_err());
        assert!(Template::parse("{{ }}").is_err());
        // A lone closing brace pair is literal text, as in Spin.
        assert!(Template::parse("a }} b").unwrap().is_literal());
    }

    #[test]
    fn component_variables() {
        let app = AppVariables::resolve(&decls(), |k| {
            (k == "SPIN_VARIABLE_TOKEN").then(|| "secret".to_owned())
        })
        .unwrap();
        let mut c = BTreeMap::new();
        c.insert("url".to_owned(), "https://{{ region }}.example".to_owned());
        c.insert("tok".to_owned(), "{{ token }}".to_owned());
        c.insert("lit".to_owned(), "plain".to_owned());
        let vars = ComponentVariables::resolve("comp", &c, &app).unwrap();
        assert_eq!(vars.get("url").unwrap(), "https://eu.example");
        assert_eq!(vars.get("tok").unwrap(), "secret");
        assert_eq!(vars.get("lit").unwrap(), "plain");
        assert_eq!(
            vars.get("region"),
            Err(GetError::Undefined("region".to_owned())),
            "app variables are not visible unless the component declares them"
        );
        assert_eq!(
            vars.get("Bad-Name"),
            Err(GetError::InvalidName("Bad-Name".to_owned()))
        );
        assert!(!format!("{vars:?}").contains("secret"));

        let mut bad = BTreeMap::new();
        bad.insert("x".to_owned(), "{{ nope }}".to_owned());
        let err = ComponentVariables::resolve("comp", &bad, &app)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("undeclared application variable `nope`"),
            "{err}"
        );
        assert!(err.contains("comp"), "{err}");
    }
}
