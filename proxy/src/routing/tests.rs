//! Table-driven tests for route keys and AWS matching precedence.

use super::*;

fn router(keys: &[&str]) -> Router<String> {
    let mut router = Router::default();
    for key in keys {
        router
            .insert(
                &RouteKey::parse(key).unwrap(),
                Arc::from(*key),
                key.to_string(),
            )
            .unwrap();
    }
    router
}

#[test]
fn precedence_literal_then_param_then_greedy() {
    let routes = router(&[
        "GET /pets",
        "GET /pets/dog",
        "GET /pets/{id}",
        "GET /pets/{id}/toys",
        "ANY /{proxy+}",
        "GET /pets/{rest+}",
        "POST /pets/{id}",
    ]);
    let cases = [
        ("GET", "/pets", Some("GET /pets"), vec![]),
        ("GET", "/pets/", Some("GET /pets"), vec![]),
        ("GET", "/pets/dog", Some("GET /pets/dog"), vec![]),
        ("GET", "/pets/7", Some("GET /pets/{id}"), vec![("id", "7")]),
        (
            "POST",
            "/pets/7",
            Some("POST /pets/{id}"),
            vec![("id", "7")],
        ),
        (
            "GET",
            "/pets/7/toys",
            Some("GET /pets/{id}/toys"),
            vec![("id", "7")],
        ),
        (
            "GET",
            "/pets/7/food",
            Some("GET /pets/{rest+}"),
            vec![("rest", "7/food")],
        ),
        (
            "DELETE",
            "/pets/7",
            Some("ANY /{proxy+}"),
            vec![("proxy", "pets/7")],
        ),
        (
            "GET",
            "/a/b/c",
            Some("ANY /{proxy+}"),
            vec![("proxy", "a/b/c")],
        ),
        ("GET", "/", None, vec![]),
    ];
    for (method, path, expected, params) in cases {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let found = routes.find(&method, path);
        assert_eq!(
            found.as_ref().map(|m| m.value.as_str()),
            expected,
            "{method} {path}"
        );
        if let Some(found) = found {
            let got: Vec<(&str, &str)> = found
                .params
                .iter()
                .map(|(n, v)| (&**n, v.as_str()))
                .collect();
            assert_eq!(got, params, "{method} {path}");
        }
    }
}

#[test]
fn exact_method_beats_any_and_backtracks_on_method() {
    let routes = router(&["ANY /items/{id}", "GET /items/{id}", "POST /items/new"]);
    let get = routes.find(&Method::GET, "/items/new").unwrap();
    assert_eq!(get.value, "GET /items/{id}");
    let post = routes.find(&Method::POST, "/items/new").unwrap();
    assert_eq!(post.value, "POST /items/new");
    let put = routes.find(&Method::PUT, "/items/9").unwrap();
    assert_eq!(put.value, "ANY /items/{id}");
}

#[test]
fn greedy_needs_at_least_one_segment_and_root_route_matches_root() {
    let routes = router(&["GET /", "GET /files/{path+}"]);
    assert_eq!(routes.find(&Method::GET, "/").unwrap().value, "GET /");
    assert!(routes.find(&Method::GET, "/files").is_none());
    assert!(routes.find(&Method::GET, "/files/").is_none());
    assert_eq!(
        routes.find(&Method::GET, "/files/a/b.txt").unwrap().params[0].1,
        "a/b.txt"
    );
}

#[test]
fn route_key_errors() {
    let cases = [
        ("GET", RouteKeyError::Shape),
        ("GET pets", RouteKeyError::Shape),
        ("FETCH /pets", RouteKeyError::Method("FETCH".into())),
        ("GET /{proxy+}/x", RouteKeyError::Segment("{proxy+}".into())),
        ("GET /a{b}", RouteKeyError::Segment("a{b}".into())),
        ("GET /{}", RouteKeyError::Segment("{}".into())),
        ("GET /{id}/{id}", RouteKeyError::DuplicateParam("id".into())),
    ];
    for (key, error) in cases {
        assert_eq!(RouteKey::parse(key), Err(error), "{key}");
    }
}

#[test]
fn same_shape_conflicts() {
    let mut routes = router(&["GET /pets/{id}"]);
    let clash = RouteKey::parse("GET /pets/{petId}").unwrap();
    let conflict = routes
        .insert(&clash, Arc::from("GET /pets/{petId}"), String::new())
        .unwrap_err();
    assert_eq!(conflict.existing, "GET /pets/{id}");
    let other_method = RouteKey::parse("PUT /pets/{petId}").unwrap();
    let name = Arc::from("PUT /pets/{petId}");
    assert!(routes.insert(&other_method, name, String::new()).is_ok());
}

#[test]
fn display_round_trips() {
    for key in ["GET /", "ANY /{proxy+}", "POST /pets/{id}/toys"] {
        assert_eq!(RouteKey::parse(key).unwrap().to_string(), key);
    }
}
