//! server.json documents: lenient parsing into the catalog's types, the checks an entry must
//! pass to be imported, and the deployability verdict.
//!
//! Registries publish messy data (placeholders, shell fragments as arguments, empty versions).
//! Parsing accepts every well-typed document; [`check`] refuses only what cannot be stored
//! or addressed (a bad name or version, an oversized document), each with a reason; the rest
//! is imported and the verdict tells the operator what stands between it and a deployment.

use serde::Deserialize;
use types::{
    Argument, ArgumentKind, EnvVar, HeaderSpec, Package, Remote, Transport, Verdict, VerdictStatus,
};

/// Largest server.json document imported, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Longest server name (the official schema's limit).
pub const MAX_NAME_LEN: usize = 200;
/// Longest version string.
pub const MAX_VERSION_LEN: usize = 255;

/// A server.json document, every field optional so one odd field cannot sink an entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerJson {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: String,
    pub website_url: Option<String>,
    pub repository: Option<Repository>,
    pub packages: Option<Vec<RawPackage>>,
    pub remotes: Option<Vec<RawRemote>>,
}

/// `repository`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Repository {
    pub url: Option<String>,
}

/// `packages[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawPackage {
    pub registry_type: String,
    pub identifier: String,
    pub version: Option<String>,
    pub runtime_hint: Option<String>,
    pub transport: Option<RawTransport>,
    pub runtime_arguments: Option<Vec<RawArgument>>,
    pub package_arguments: Option<Vec<RawArgument>>,
    pub environment_variables: Option<Vec<RawInput>>,
}

/// `transport`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTransport {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub headers: Option<Vec<RawInput>>,
}

/// `runtimeArguments[]` / `packageArguments[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawArgument {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub value: Option<String>,
    pub value_hint: Option<String>,
    pub description: Option<String>,
    pub is_required: bool,
    pub is_secret: bool,
    pub is_repeated: bool,
    pub default: Option<String>,
    pub choices: Option<Vec<String>>,
}

/// `environmentVariables[]` and `headers[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawInput {
    pub name: String,
    pub description: Option<String>,
    pub is_required: bool,
    pub is_secret: bool,
    pub default: Option<String>,
    pub value: Option<String>,
    pub choices: Option<Vec<String>>,
}

/// `remotes[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRemote {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub headers: Option<Vec<RawInput>>,
}

/// Parses a document; the error says which field is mistyped (serde's message, which names
/// the expected type and the position, never more of the input than that).
pub fn parse(raw: &str) -> Result<ServerJson, String> {
    serde_json::from_str(raw).map_err(|e| format!("not a valid server.json document: {e}"))
}

/// Whether `name` is `namespace/name` as the official schema defines it.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the server has no name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("the name is longer than {MAX_NAME_LEN} characters"));
    }
    let Some((ns, rest)) = name.split_once('/') else {
        return Some(format!(
            "the name {:?} is not of the form namespace/name",
            shorten(name)
        ));
    };
    let ns_ok = !ns.is_empty()
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    let rest_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!(ns_ok && rest_ok)).then(|| {
        format!(
            "the name {:?} is not of the form namespace/name (letters, digits, '.', '-' and '_')",
            shorten(name)
        )
    })
}

fn version_problem(version: &str) -> Option<String> {
    if version.trim().is_empty() {
        return Some("the version is empty".into());
    }
    if version.len() > MAX_VERSION_LEN {
        return Some(format!(
            "the version is longer than {MAX_VERSION_LEN} characters"
        ));
    }
    if version.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "the version {:?} holds spaces or control characters",
            shorten(version)
        ));
    }
    if version == "latest" {
        return Some("the version \"latest\" is reserved; a version must be exact".into());
    }
    if version.starts_with(['^', '~', '>', '<', '=', '*']) || version.contains("||") {
        return Some(format!(
            "the version {:?} is a range, not an exact version",
            shorten(version)
        ));
    }
    None
}

/// Keeps messages readable when the offending text is huge or hostile.
pub fn shorten(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        format!("{clean}…")
    } else {
        clean
    }
}

/// Why an entry cannot be imported, or `None` when it can.
pub fn check(raw_len: usize, doc: &ServerJson) -> Option<String> {
    if raw_len > MAX_DOCUMENT_BYTES {
        return Some(format!(
            "the server.json document is {raw_len} bytes; the limit is {MAX_DOCUMENT_BYTES}"
        ));
    }
    name_problem(&doc.name).or_else(|| version_problem(&doc.version))
}

pub use types::catalog::placeholders;

fn argument(a: &RawArgument) -> Argument {
    let mut ph = Vec::new();
    for text in [&a.name, &a.value].into_iter().flatten() {
        for p in placeholders(text) {
            if !ph.contains(&p) {
                ph.push(p);
            }
        }
    }
    Argument {
        kind: if a.kind == "named" {
            ArgumentKind::Named
        } else {
            ArgumentKind::Positional
        },
        name: a.name.clone(),
        value: a.value.clone(),
        value_hint: a.value_hint.clone(),
        description: a.description.clone(),
        is_required: a.is_required,
        is_secret: a.is_secret,
        default: a.default.clone(),
        choices: a.choices.clone().unwrap_or_default(),
        is_repeated: a.is_repeated,
        placeholders: ph,
    }
}

fn header(h: &RawInput) -> HeaderSpec {
    HeaderSpec {
        name: h.name.clone(),
        description: h.description.clone(),
        is_required: h.is_required,
        is_secret: h.is_secret,
        default: h.default.clone(),
    }
}

fn headers(h: &Option<Vec<RawInput>>) -> Vec<HeaderSpec> {
    h.iter().flatten().map(header).collect()
}

/// The packages as the catalog shows them.
pub fn packages(doc: &ServerJson) -> Vec<Package> {
    doc.packages
        .iter()
        .flatten()
        .map(|p| {
            let t = p.transport.as_ref();
            Package {
                registry_type: p.registry_type.clone(),
                identifier: p.identifier.clone(),
                version: p.version.clone().filter(|v| !v.trim().is_empty()),
                runtime_hint: p.runtime_hint.clone(),
                transport: Transport {
                    kind: t.map(|t| t.kind.clone()).unwrap_or_default(),
                    url: t.and_then(|t| t.url.clone()),
                    headers: t.map(|t| headers(&t.headers)).unwrap_or_default(),
                },
                runtime_arguments: p.runtime_arguments.iter().flatten().map(argument).collect(),
                package_arguments: p.package_arguments.iter().flatten().map(argument).collect(),
                environment_variables: p
                    .environment_variables
                    .iter()
                    .flatten()
                    .map(|e| EnvVar {
                        name: e.name.clone(),
                        description: e.description.clone(),
                        is_required: e.is_required,
                        is_secret: e.is_secret,
                        default: e.default.clone().or_else(|| e.value.clone()),
                        choices: e.choices.clone().unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The remotes as the catalog shows them.
pub fn remotes(doc: &ServerJson) -> Vec<Remote> {
    doc.remotes
        .iter()
        .flatten()
        .map(|r| Remote {
            kind: r.kind.clone(),
            url: r.url.clone(),
            headers: headers(&r.headers),
        })
        .collect()
}

/// Runtimes that can run a package type, best first.
fn runtimes_for(registry_type: &str) -> Option<&'static [&'static str]> {
    match registry_type {
        "oci" => Some(&["docker"]),
        "npm" | "pypi" => Some(&["docker", "process"]),
        _ => None,
    }
}

/// What stands between one package and a deployment: (unsupported reasons, inputs needed).
fn assess(p: &Package) -> (Vec<String>, Vec<String>) {
    let mut unsupported = Vec::new();
    let mut needs = Vec::new();
    if p.registry_type.is_empty() {
        unsupported.push("the package has no registry type".to_owned());
    } else if runtimes_for(&p.registry_type).is_none() {
        unsupported.push(format!(
            "package type {} not supported (npm, pypi and oci are)",
            shorten(&p.registry_type)
        ));
    }
    if p.identifier.trim().is_empty() {
        unsupported.push("the package has no identifier".to_owned());
    }
    match p.transport.kind.as_str() {
        "stdio" | "streamable-http" => {}
        "" => unsupported.push("the package names no transport".to_owned()),
        "sse" => unsupported.push(
            "transport sse not supported (it is deprecated; stdio and streamable-http are)"
                .to_owned(),
        ),
        other => unsupported.push(format!("transport {} not supported", shorten(other))),
    }
    // An image pins itself with a tag or digest; npm and PyPI packages need a version.
    let image_pinned = p.registry_type == "oci"
        && (p.identifier.contains('@')
            || p.identifier
                .rsplit('/')
                .next()
                .is_some_and(|l| l.contains(':')));
    if p.version.is_none() && runtimes_for(&p.registry_type).is_some() && !image_pinned {
        needs.push(format!(
            "package {} has no version: pin one",
            shorten(&p.identifier)
        ));
    }
    for a in p.runtime_arguments.iter().chain(&p.package_arguments) {
        let label = a.name.as_deref().or(a.value.as_deref()).unwrap_or("");
        for ph in &a.placeholders {
            needs.push(format!(
                "placeholder argument `{}` needs a value",
                shorten(ph)
            ));
        }
        if a.placeholders.is_empty() {
            if a.kind == ArgumentKind::Named
                && a.name
                    .as_deref()
                    .is_some_and(|n| n.trim().contains(char::is_whitespace))
            {
                needs.push(format!(
                    "argument `{}` is a shell fragment: give its parts as separate arguments",
                    shorten(label)
                ));
            } else if a.is_required
                && a.value.is_none()
                && a.default.is_none()
                && a.kind == ArgumentKind::Positional
            {
                needs.push(format!(
                    "required argument `{}` needs a value",
                    shorten(a.value_hint.as_deref().unwrap_or(label))
                ));
            }
        }
    }
    for e in &p.environment_variables {
        if e.is_required && e.default.is_none() {
            needs.push(format!(
                "environment variable `{}` needs a value",
                shorten(&e.name)
            ));
        }
    }
    for h in &p.transport.headers {
        if h.is_required && h.default.is_none() {
            needs.push(format!("header `{}` needs a value", shorten(&h.name)));
        }
    }
    (unsupported, needs)
}

/// Which runtime could run the server, or why none can.
pub fn verdict(packages: &[Package], remotes: &[Remote]) -> Verdict {
    let mut first_needs: Option<(usize, Vec<String>)> = None;
    let mut why_not = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let (unsupported, needs) = assess(p);
        if !unsupported.is_empty() {
            let prefix = if packages.len() > 1 {
                format!("{}: ", shorten(&p.identifier))
            } else {
                String::new()
            };
            why_not.extend(unsupported.into_iter().map(|r| format!("{prefix}{r}")));
            continue;
        }
        let runtimes = runtimes_for(&p.registry_type)
            .unwrap_or(&[])
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        if needs.is_empty() {
            return Verdict {
                status: VerdictStatus::Ready,
                runtimes,
                package: Some(i as u32),
                reasons: Vec::new(),
            };
        }
        if first_needs.is_none() {
            first_needs = Some((i, needs));
        }
    }
    if let Some((i, needs)) = first_needs {
        return Verdict {
            status: VerdictStatus::NeedsInput,
            runtimes: runtimes_for(&packages[i].registry_type)
                .unwrap_or(&[])
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            package: Some(i as u32),
            reasons: needs,
        };
    }
    if packages.is_empty() {
        why_not.push(if remotes.is_empty() {
            "no packages and no remotes: nothing to run".to_owned()
        } else {
            "a hosted server (remotes only): nothing to deploy; connect to its URL instead"
                .to_owned()
        });
    }
    Verdict {
        status: VerdictStatus::Unsupported,
        runtimes: Vec::new(),
        package: None,
        reasons: why_not,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: serde_json::Value) -> ServerJson {
        parse(&json.to_string()).unwrap()
    }

    #[test]
    fn names_and_versions_are_checked() {
        let ok = doc(serde_json::json!({"name": "io.github.a/b-c_d.e", "version": "1.0.0"}));
        assert_eq!(check(10, &ok), None);
        for (name, version, why) in [
            ("", "1.0.0", "no name"),
            ("noslash", "1.0.0", "namespace/name"),
            ("a/b c", "1.0.0", "namespace/name"),
            ("a/b", "", "empty"),
            ("a/b", "^1.2", "range"),
            ("a/b", "latest", "reserved"),
            ("a/b", "1.0\n", "control"),
        ] {
            let d = doc(serde_json::json!({"name": name, "version": version}));
            let reason = check(10, &d).expect(name);
            assert!(reason.contains(why), "{reason}");
        }
        assert!(check(MAX_DOCUMENT_BYTES + 1, &ok)
            .unwrap()
            .contains("limit"));
    }

    #[test]
    fn mistyped_fields_are_reported() {
        let e = parse(r#"{"name":"a/b","version":"1","packages":"npm"}"#).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(
            placeholders("--directory <absolute_path_to_folder>"),
            ["<absolute_path_to_folder>"]
        );
        assert_eq!(placeholders("${input:apiKey}"), ["${input:apiKey}"]);
        assert_eq!(
            placeholders("--dir $REPOSITORY_DIRECTORY x"),
            ["$REPOSITORY_DIRECTORY"]
        );
        assert_eq!(placeholders("http://localhost:{port}/mcp"), ["{port}"]);
        assert!(placeholders("-y --stdio 3.13 a<b").is_empty());
        assert!(placeholders("$5 and <>").is_empty());
    }

    fn verdict_of(json: serde_json::Value) -> Verdict {
        let d = doc(json);
        verdict(&packages(&d), &remotes(&d))
    }

    #[test]
    fn verdicts() {
        let ready = verdict_of(serde_json::json!({"name": "a/b", "version": "1",
            "packages": [{"registryType": "npm", "identifier": "@a/b", "version": "1.0.0",
                          "transport": {"type": "stdio"}}]}));
        assert_eq!(ready.status, VerdictStatus::Ready);
        assert_eq!(ready.runtimes, ["docker", "process"]);

        let nuget = verdict_of(serde_json::json!({"name": "a/b", "version": "1",
            "packages": [{"registryType": "nuget", "identifier": "A.B", "version": "1.0.0",
                          "transport": {"type": "stdio"}}]}));
        assert_eq!(nuget.status, VerdictStatus::Unsupported);
        assert_eq!(
            nuget.reasons,
            ["package type nuget not supported (npm, pypi and oci are)"]
        );

        let placeholder = verdict_of(serde_json::json!({"name": "a/b", "version": "1",
            "packages": [{"registryType": "pypi", "identifier": "x", "version": "1.0.0",
                          "transport": {"type": "stdio"},
                          "packageArguments": [{"type": "positional", "value": "<path>"}]}]}));
        assert_eq!(placeholder.status, VerdictStatus::NeedsInput);
        assert_eq!(
            placeholder.reasons,
            ["placeholder argument `<path>` needs a value"]
        );

        let remote = verdict_of(serde_json::json!({"name": "a/b", "version": "1",
            "remotes": [{"type": "sse", "url": "https://x.example/sse"}]}));
        assert_eq!(remote.status, VerdictStatus::Unsupported);
        assert!(remote.reasons[0].contains("remotes only"));

        // The first package that can run wins, even when an earlier one cannot.
        let mixed = verdict_of(serde_json::json!({"name": "a/b", "version": "1",
            "packages": [
                {"registryType": "mcpb", "identifier": "https://x/y.mcpb", "transport": {"type": "stdio"}},
                {"registryType": "oci", "identifier": "ghcr.io/a/b:1", "version": "1",
                 "transport": {"type": "stdio"},
                 "environmentVariables": [{"name": "TOKEN", "isRequired": true, "isSecret": true}]}]}));
        assert_eq!(mixed.status, VerdictStatus::NeedsInput);
        assert_eq!(mixed.package, Some(1));
        assert_eq!(mixed.runtimes, ["docker"]);
        assert_eq!(
            mixed.reasons,
            ["environment variable `TOKEN` needs a value"]
        );
    }
}
