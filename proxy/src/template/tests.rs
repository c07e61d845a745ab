//! Template parsing and rendering cases.

use super::*;

struct Values;

impl Lookup for Values {
    fn header(&self, name: &str) -> Option<&str> {
        (name == "x-user").then_some("ada")
    }
    fn query(&self, name: &str) -> Option<String> {
        (name == "page").then(|| "2".to_string())
    }
    fn path_param(&self, name: &str) -> Option<&str> {
        match name {
            "id" => Some("42"),
            "proxy" => Some("a/b"),
            _ => None,
        }
    }
    fn context(&self, var: ContextVar) -> Option<String> {
        match var {
            ContextVar::RequestId => Some("req-1".into()),
            ContextVar::ErrorMessageString => Some("\"Nope\"".into()),
            _ => None,
        }
    }
}

fn vars() -> BTreeMap<String, String> {
    BTreeMap::from([("host".to_string(), "10.0.0.1:80".to_string())])
}

fn scope(vars: &BTreeMap<String, String>) -> Scope<'_> {
    Scope {
        stage_variables: vars,
        request: true,
        error: false,
        braced_path_params: true,
    }
}

#[test]
fn renders_every_reference_kind() {
    let vars = vars();
    let cases = [
        (
            "http://${stageVariables.host}/pets/{id}",
            "http://10.0.0.1:80/pets/42",
        ),
        ("/files/{proxy+}", "/files/a/b"),
        ("user=$request.header.X-User;", "user=ada;"),
        ("p${request.querystring.page}x", "p2x"),
        ("id $request.path.id.", "id 42."),
        ("$context.requestId", "req-1"),
        ("cost $5", "cost $5"),
        ("plain", "plain"),
    ];
    for (text, expected) in cases {
        let template = Template::parse(text, scope(&vars)).unwrap();
        assert_eq!(template.render(&Values), expected, "{text}");
    }
}

#[test]
fn stage_variables_resolve_at_compile_time() {
    let vars = vars();
    let template = Template::parse("${stageVariables.host}/x", scope(&vars)).unwrap();
    assert_eq!(template.as_literal(), Some("10.0.0.1:80/x"));
}

#[test]
fn rejects_what_the_scope_cannot_see() {
    let vars = vars();
    let no_request = Scope {
        request: false,
        error: true,
        braced_path_params: false,
        ..scope(&vars)
    };
    let cases = [
        (
            "${stageVariables.nope}",
            scope(&vars),
            TemplateError::UndefinedStageVariable("nope".into()),
        ),
        (
            "$request.header.x",
            no_request,
            TemplateError::Unknown("request.header.x".into()),
        ),
        (
            "$context.error.message",
            scope(&vars),
            TemplateError::Unknown("context.error.message".into()),
        ),
        (
            "$context.bogus",
            scope(&vars),
            TemplateError::Unknown("context.bogus".into()),
        ),
        ("${request.path.id", scope(&vars), TemplateError::Unclosed),
    ];
    for (text, scope, error) in cases {
        assert_eq!(Template::parse(text, scope), Err(error), "{text}");
    }
    let error_body = Template::parse("{\"m\":$context.error.messageString}", no_request).unwrap();
    assert_eq!(error_body.render(&Values), "{\"m\":\"Nope\"}");
}

#[test]
fn substitutes_only_stage_variables() {
    let vars = vars();
    let text = "http://${stageVariables.host}/x/{id}?u=$request.header.x&s=$stageVariables.host";
    assert_eq!(
        substitute_stage_variables(text, &vars).unwrap(),
        "http://10.0.0.1:80/x/{id}?u=$request.header.x&s=10.0.0.1:80"
    );
    assert_eq!(
        substitute_stage_variables("${stageVariables.nope}", &vars),
        Err(TemplateError::UndefinedStageVariable("nope".into()))
    );
}
