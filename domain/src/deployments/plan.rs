//! Resolving a deployment request against its catalog entry: which package, which runtime,
//! the exact argv, the environment (names checked, plain values scanned for credentials,
//! required ones present), and how to talk to the server. Pure: no I/O, so every rule has a
//! unit test.

use types::{
    deployment::{CreateDeployment, RuntimeKind},
    env::{check_plain_value, EnvName},
    Argument, ArgumentKind, CatalogVersion, Package, VerdictStatus,
};

use crate::{registries::server_json::placeholders, runtime::Launch, DomainError};

/// Most arguments a deployment may have.
pub const MAX_ARGS: usize = 256;
/// Longest single argument.
pub const MAX_ARG_LEN: usize = 4096;

pub use crate::runtime::Transport;

/// One environment variable, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvEntry {
    /// Name.
    pub name: EnvName,
    /// Value (a secret one goes to the secret store, never into the deployment row).
    pub value: String,
    /// Secret.
    pub secret: bool,
}

/// A resolved deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Display name.
    pub name: String,
    /// Catalog server name.
    pub server: String,
    /// Catalog version.
    pub version: String,
    /// Source registry.
    pub registry_id: String,
    /// Package index in the version.
    pub package: u32,
    /// Runtime.
    pub runtime: RuntimeKind,
    /// What to run.
    pub launch: Launch,
    /// argv after the program or package.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<EnvEntry>,
    /// Transport.
    pub transport: Transport,
    /// Its own health-check settings.
    pub health: Option<types::HealthConfig>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::invalid(field, message)
}

/// The published arguments as argv, or why the operator must give them.
fn published_args(p: &Package) -> Result<Vec<String>, DomainError> {
    let mut argv = Vec::new();
    let need = |a: &Argument, why: &str| {
        invalid(
            "arguments",
            format!(
                "the published argument `{}` {why}: give the complete argument list in `arguments`",
                a.name.as_deref().or(a.value.as_deref()).unwrap_or("?")
            ),
        )
    };
    for a in &p.package_arguments {
        if !a.placeholders.is_empty() {
            return Err(need(a, "holds a placeholder"));
        }
        let value = a.value.clone().or_else(|| a.default.clone());
        match a.kind {
            ArgumentKind::Positional => match value {
                Some(v) => argv.push(v),
                None if a.is_required => return Err(need(a, "needs a value")),
                None => {}
            },
            ArgumentKind::Named => {
                let Some(name) = a.name.clone() else {
                    return Err(need(a, "has no name"));
                };
                if name.trim().contains(char::is_whitespace) {
                    return Err(need(a, "is a shell fragment"));
                }
                argv.push(name.clone());
                if let Some(v) = value.filter(|v| *v != name) {
                    argv.push(v);
                }
            }
        }
    }
    Ok(argv)
}

fn check_args(args: &[String]) -> Result<(), DomainError> {
    if args.len() > MAX_ARGS {
        return Err(invalid(
            "arguments",
            format!("at most {MAX_ARGS} arguments"),
        ));
    }
    for a in args {
        if a.len() > MAX_ARG_LEN || a.contains('\0') {
            return Err(invalid(
                "arguments",
                format!("an argument is longer than {MAX_ARG_LEN} bytes or holds NUL"),
            ));
        }
        if let Some(p) = placeholders(a).first() {
            return Err(invalid(
                "arguments",
                format!("placeholder argument `{p}` needs a value"),
            ));
        }
    }
    Ok(())
}

fn transport_of(p: &Package) -> Result<Transport, DomainError> {
    match p.transport.kind.as_str() {
        "stdio" => Ok(Transport::Stdio),
        "streamable-http" => {
            let url = p
                .transport
                .url
                .as_deref()
                .unwrap_or("http://localhost:8080/mcp");
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let (authority, path) = rest.split_once('/').unwrap_or((rest, "mcp"));
            let port = authority
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .unwrap_or(8080);
            Ok(Transport::Http {
                port,
                path: format!("/{}", path.split('?').next().unwrap_or("mcp")),
            })
        }
        other => Err(invalid(
            "package",
            format!("transport {other} is not supported (stdio and streamable-http are)"),
        )),
    }
}

fn default_name(server: &str) -> String {
    let short = server.rsplit('/').next().unwrap_or(server);
    short.chars().take(64).collect()
}

/// Resolves `req` against `entry`. `docker` says whether this host has a Docker engine.
pub fn plan(
    entry: &CatalogVersion,
    req: &CreateDeployment,
    docker: bool,
) -> Result<Plan, DomainError> {
    if let Some(h) = &req.health {
        h.validate().map_err(DomainError::Invalid)?;
    }
    if entry.verdict.status == VerdictStatus::Unsupported {
        return Err(invalid(
            "server",
            format!(
                "{} {} cannot be deployed: {}",
                entry.name,
                entry.version,
                entry.verdict.reasons.join("; ")
            ),
        ));
    }
    let index = req.package.or(entry.verdict.package).unwrap_or(0);
    let p = entry.packages.get(index as usize).ok_or_else(|| {
        invalid(
            "package",
            format!("the version has {} packages", entry.packages.len()),
        )
    })?;
    let version = req
        .package_version
        .clone()
        .or_else(|| p.version.clone())
        .filter(|v| !v.trim().is_empty());
    let launch = match p.registry_type.as_str() {
        "npm" | "pypi" => {
            let Some(version) = version.clone() else {
                return Err(invalid(
                    "package_version",
                    format!(
                        "package {} has no version: give `package_version`",
                        p.identifier
                    ),
                ));
            };
            if version.starts_with(['^', '~', '>', '<', '=', '*']) || version.contains(' ') {
                return Err(invalid("package_version", "must be an exact version"));
            }
            if p.registry_type == "npm" {
                Launch::Npm {
                    package: p.identifier.clone(),
                    version,
                }
            } else {
                Launch::Pypi {
                    package: p.identifier.clone(),
                    version,
                }
            }
        }
        "oci" => {
            // `name:tag` or `name@digest` as published; a separate version is the tag.
            let has_tag = p.identifier.contains('@')
                || p.identifier
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'));
            let image = match (&version, has_tag) {
                (Some(v), false) => format!("{}:{v}", p.identifier),
                _ => p.identifier.clone(),
            };
            Launch::Oci { image }
        }
        other => {
            return Err(invalid(
                "package",
                format!("package type {other} is not supported"),
            ))
        }
    };
    let offered: Vec<RuntimeKind> = entry
        .verdict
        .runtimes
        .iter()
        .filter_map(|r| RuntimeKind::parse(r))
        .filter(|r| *r == RuntimeKind::Process || docker)
        .collect();
    let runtime = match req.runtime {
        Some(r) if !docker && r == RuntimeKind::Docker => {
            return Err(invalid("runtime", "this host has no Docker engine"))
        }
        Some(RuntimeKind::Process) if matches!(launch, Launch::Oci { .. }) => {
            return Err(invalid(
                "runtime",
                "an oci image runs on the docker runtime only",
            ))
        }
        Some(r) => r,
        None => *offered
            .first()
            .ok_or_else(|| invalid("runtime", "no runtime on this host can run this package"))?,
    };
    let args = match &req.arguments {
        Some(a) => a.clone(),
        None => published_args(p)?,
    };
    check_args(&args)?;

    let mut env: Vec<EnvEntry> = Vec::new();
    for e in &req.env {
        let name = EnvName::parse(&e.name)?;
        if env.iter().any(|x| x.name == name) {
            return Err(invalid("env", format!("{} is given twice", e.name)));
        }
        if e.secret {
            if e.value.is_empty() || e.value.len() > types::env::MAX_VALUE_LEN {
                return Err(invalid(
                    "env",
                    format!("the secret value of {} must be 1 to 32768 bytes", e.name),
                ));
            }
        } else {
            check_plain_value(&e.name, &e.value)?;
        }
        env.push(EnvEntry {
            name,
            value: e.value.clone(),
            secret: e.secret,
        });
    }
    let missing: Vec<&str> = p
        .environment_variables
        .iter()
        .filter(|v| v.is_required && v.default.is_none())
        .filter(|v| !env.iter().any(|e| e.name.as_str() == v.name))
        .map(|v| v.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            "env",
            format!("required variables are missing: {}", missing.join(", ")),
        ));
    }
    // Published defaults the operator did not override.
    for v in &p.environment_variables {
        if let (Some(default), Ok(name)) = (&v.default, EnvName::parse(&v.name)) {
            if !env.iter().any(|e| e.name == name) && placeholders(default).is_empty() {
                env.push(EnvEntry {
                    name,
                    value: default.clone(),
                    secret: v.is_secret,
                });
            }
        }
    }
    for e in env.iter().filter(|e| !e.secret) {
        let published_secret = p
            .environment_variables
            .iter()
            .any(|v| v.name == e.name.as_str() && v.is_secret);
        if published_secret {
            return Err(invalid(
                "env",
                format!("{} is a secret: mark it secret", e.name.as_str()),
            ));
        }
    }
    let name = match &req.name {
        Some(n) => types::RegistryName::parse(n)
            .map_err(|e| invalid("name", e.message))?
            .as_str()
            .to_owned(),
        None => default_name(&entry.name),
    };
    Ok(Plan {
        name,
        server: entry.name.clone(),
        version: entry.version.clone(),
        registry_id: entry.registry_id.clone(),
        package: index,
        runtime,
        launch,
        args,
        env,
        transport: transport_of(p)?,
        health: req.health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registries::server_json;

    fn entry(server_json: serde_json::Value) -> CatalogVersion {
        let raw = server_json.to_string();
        let doc = server_json::parse(&raw).unwrap();
        let packages = server_json::packages(&doc);
        let remotes = server_json::remotes(&doc);
        CatalogVersion {
            registry_id: "r".into(),
            registry_name: "r".into(),
            name: doc.name.clone(),
            title: None,
            description: String::new(),
            version: doc.version.clone(),
            is_latest: true,
            status: types::EntryStatus::Active,
            website_url: None,
            repository_url: None,
            verdict: server_json::verdict(&packages, &remotes),
            packages,
            remotes,
            published_at: None,
            updated_at: None,
            synced_at: chrono::Utc::now(),
            server_json,
        }
    }

    fn req() -> CreateDeployment {
        CreateDeployment {
            server: "io.x/y".into(),
            version: None,
            registry_id: None,
            package: None,
            package_version: None,
            runtime: None,
            arguments: None,
            env: vec![],
            name: None,
            health: None,
        }
    }

    fn env(name: &str, value: &str, secret: bool) -> types::deployment::EnvInput {
        types::deployment::EnvInput {
            name: name.into(),
            value: value.into(),
            secret,
        }
    }

    #[test]
    fn npm_package_with_published_arguments() {
        let e = entry(serde_json::json!({"name": "io.x/y", "version": "1.0.0",
            "packages": [{"registryType": "npm", "identifier": "@x/y", "version": "1.2.3",
                "transport": {"type": "stdio"},
                "packageArguments": [
                    {"type": "positional", "value": "stdio"},
                    {"type": "named", "name": "--mode", "value": "fast"},
                    {"type": "named", "name": "--verbose"}],
                "environmentVariables": [{"name": "LEVEL", "default": "info"}]}]}));
        let p = plan(&e, &req(), true).unwrap();
        assert_eq!(p.runtime, RuntimeKind::Docker);
        assert_eq!(
            p.launch,
            Launch::Npm {
                package: "@x/y".into(),
                version: "1.2.3".into()
            }
        );
        assert_eq!(p.args, ["stdio", "--mode", "fast", "--verbose"]);
        assert_eq!(p.env[0].name.as_str(), "LEVEL");
        assert_eq!(p.transport, Transport::Stdio);
        assert_eq!(p.name, "y");
        // Without Docker, the process runtime.
        assert_eq!(
            plan(&e, &req(), false).unwrap().runtime,
            RuntimeKind::Process
        );
    }

    #[test]
    fn placeholders_must_be_filled_and_secrets_marked() {
        let e = entry(serde_json::json!({"name": "io.x/y", "version": "1.0.0",
            "packages": [{"registryType": "pypi", "identifier": "y", "version": "0.1.0",
                "transport": {"type": "stdio"},
                "packageArguments": [{"type": "positional", "value": "<path>"}],
                "environmentVariables": [{"name": "TOKEN", "isRequired": true, "isSecret": true}]}]}));
        let err = plan(&e, &req(), false).unwrap_err().to_string();
        assert!(err.contains("holds a placeholder"), "{err}");
        let mut r = req();
        r.arguments = Some(vec!["<path>".into()]);
        let err = plan(&e, &r, false).unwrap_err().to_string();
        assert!(
            err.contains("placeholder argument `<path>` needs a value"),
            "{err}"
        );
        r.arguments = Some(vec!["/data".into()]);
        let err = plan(&e, &r, false).unwrap_err().to_string();
        assert!(
            err.contains("required variables are missing: TOKEN"),
            "{err}"
        );
        r.env = vec![env("TOKEN", "abc", false)];
        let err = plan(&e, &r, false).unwrap_err().to_string();
        assert!(err.contains("TOKEN is a secret"), "{err}");
        r.env = vec![env(
            "TOKEN",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            false,
        )];
        let err = plan(&e, &r, false).unwrap_err().to_string();
        assert!(err.contains("looks like a GitHub token"), "{err}");
        r.env = vec![env("TOKEN", "abc", true), env("LD_PRELOAD", "/x.so", false)];
        let err = plan(&e, &r, false).unwrap_err().to_string();
        assert!(err.contains("LD_PRELOAD may not be set"), "{err}");
        r.env = vec![env("TOKEN", "abc", true)];
        let p = plan(&e, &r, false).unwrap();
        assert_eq!(p.args, ["/data"]);
        assert!(p.env[0].secret);
        assert_eq!(
            p.launch,
            Launch::Pypi {
                package: "y".into(),
                version: "0.1.0".into()
            }
        );
    }

    #[test]
    fn oci_images_runtimes_and_unsupported_entries() {
        let e = entry(serde_json::json!({"name": "io.x/img", "version": "2.0.0",
            "packages": [{"registryType": "oci", "identifier": "mcpo-test/server", "version": "latest",
                "transport": {"type": "streamable-http", "url": "http://localhost:9000/mcp"}}]}));
        let p = plan(&e, &req(), true).unwrap();
        assert_eq!(
            p.launch,
            Launch::Oci {
                image: "mcpo-test/server:latest".into()
            }
        );
        assert_eq!(
            p.transport,
            Transport::Http {
                port: 9000,
                path: "/mcp".into()
            }
        );
        let err = plan(&e, &req(), false).unwrap_err().to_string();
        assert!(err.contains("no runtime"), "{err}");
        let mut r = req();
        r.runtime = Some(RuntimeKind::Process);
        assert!(plan(&e, &r, true)
            .unwrap_err()
            .to_string()
            .contains("docker runtime only"));

        let nuget = entry(serde_json::json!({"name": "io.x/n", "version": "1",
            "packages": [{"registryType": "nuget", "identifier": "N", "version": "1",
                          "transport": {"type": "stdio"}}]}));
        let err = plan(&nuget, &req(), true).unwrap_err().to_string();
        assert!(
            err.contains("cannot be deployed: package type nuget not supported"),
            "{err}"
        );

        let unpinned = entry(serde_json::json!({"name": "io.x/u", "version": "1",
            "packages": [{"registryType": "npm", "identifier": "u", "transport": {"type": "stdio"}}]}));
        let err = plan(&unpinned, &req(), true).unwrap_err().to_string();
        assert!(err.contains("give `package_version`"), "{err}");
        let mut r = req();
        r.package_version = Some("3.1.4".into());
        assert_eq!(
            plan(&unpinned, &r, true).unwrap().launch,
            Launch::Npm {
                package: "u".into(),
                version: "3.1.4".into()
            }
        );
    }
}
