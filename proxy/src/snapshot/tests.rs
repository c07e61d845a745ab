//! Compiling configs: stage resolution and located errors.

use std::path::Path;

use crate::config::parse_source;

use super::*;

fn compile_str(text: &str) -> Result<Snapshot, crate::config::ConfigErrors> {
    compile(&parse_source(Path::new("test.toml"), text)?)
}

#[test]
fn resolves_hosts_before_prefixes_and_longest_prefix_first() {
    let snapshot = compile_str(
        r#"
[apis.a]
type = "http"
[apis.a.stages.prod]
hosts = ["api.example.com"]
[apis.a.stages."$default"]
[apis.b]
type = "rest"
base_path = "/b"
[apis.b.stages.prod]
"#,
    )
    .unwrap();
    let cases = [
        (Some("api.example.com"), "/x", "a", "prod", "/x"),
        (Some("API.example.com"), "/", "a", "prod", "/"),
        (None, "/prod/x", "a", "prod", "/x"),
        (None, "/other", "a", "$default", "/other"),
        (None, "/b/prod/pets", "b", "prod", "/pets"),
        (None, "/b/prod", "b", "prod", "/"),
        (None, "/b/production", "a", "$default", "/b/production"),
    ];
    for (host, path, api, stage, rest) in cases {
        let found = snapshot.resolve(host, path).unwrap();
        assert_eq!(
            (
                found.stage.api.name.as_str(),
                found.stage.name.as_str(),
                found.path
            ),
            (api, stage, rest),
            "{host:?} {path}"
        );
    }
}

#[test]
fn reports_every_mistake_with_its_line() {
    let errors = compile_str(
        r#"[apis.a]
type = "rest"
[apis.a.stages.prod]
[apis.a.routes."GET /x/{id}"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1/{nope}" }
[apis.a.routes."FETCH /y"]
integration = { type = "mock" }
[apis.a.routes."$default"]
integration = { type = "mock" }
"#,
    )
    .unwrap_err();
    let found: Vec<(Option<usize>, &str)> = errors
        .0
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{errors}");
    assert_eq!(found[0].0, Some(5));
    assert!(found[0].1.contains("{nope}"), "{errors}");
    assert_eq!(found[1].0, Some(6));
    assert!(found[1].1.contains("FETCH"), "{errors}");
    assert_eq!(found[2].0, Some(8));
    assert!(found[2].1.contains("HTTP APIs"), "{errors}");
}

#[test]
fn unknown_keys_in_separate_entries_are_all_reported() {
    let errors = compile_str(
        "[server]\nlisten = [\"127.0.0.1:1\"]\nbogus = 1\n[apis.a]\ntype = \"http\"\ncolour = \"red\"\n[apis.a.stages.s]\n[apis.a.routes.\"GET /\"]\nintegration = { type = \"mock\", stauts = 200 }\n",
    )
    .unwrap_err();
    let lines: Vec<Option<usize>> = errors.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(3), Some(6), Some(9)], "{errors}");
}
