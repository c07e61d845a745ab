//! JWT authorizers through the real gateway, with tokens minted by PyJWT (an independent
//! implementation, installed by `scripts/test-venv.sh`) against a JWKS served on loopback: every
//! accepted algorithm, expiry, not-before, issuer, audience, `alg: none`, HS256 key confusion,
//! key rotation (an unknown `kid` fetched again, at a bounded rate), scopes, and claims reaching
//! the integration.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

use crate::support::{
    assert_config_errors, get_json, serve_document, Backend, Document, Extra, Gateway,
};

const MINT: &str = r#"
import base64, hashlib, hmac, json, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

issuer, audience, hs_secret = sys.argv[1], sys.argv[2], sys.argv[3]
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()
rotated_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

def jwk(algorithm, key, kid, alg=None):
    data = json.loads(algorithm.to_jwk(key.public_key()))
    data["kid"] = kid
    if alg:
        data["alg"] = alg
    return data

now = int(time.time())
base = {"iss": issuer, "aud": audience, "sub": "ada", "iat": now, "exp": now + 600,
        "scope": "orders:read profile", "tenant": "acme"}

def sign(key, alg, kid, **changes):
    claims = dict(base, **changes)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def unsigned():
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return header + "." + b64(json.dumps(base).encode()) + "."

def key_confusion():
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    signing_input = header + "." + b64(json.dumps(base).encode())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)

keys = [jwk(RSAAlgorithm, rsa_key, "rsa1"), jwk(ECAlgorithm, ec_key, "ec1", "ES256"),
        jwk(OKPAlgorithm, ed_key, "ed1", "EdDSA")]
print(json.dumps({
    "jwks": {"keys": keys},
    "rotated_jwks": {"keys": keys + [jwk(RSAAlgorithm, rotated_key, "rsa2", "RS256")]},
    "tokens": {
        "rs256": sign(rsa_key, "RS256", "rsa1"),
        "rs512": sign(rsa_key, "RS512", "rsa1"),
        "ps256": sign(rsa_key, "PS256", "rsa1"),
        "es256": sign(ec_key, "ES256", "ec1"),
        "eddsa": sign(ed_key, "EdDSA", "ed1"),
        "expired": sign(rsa_key, "RS256", "rsa1", exp=now - 3600),
        "not_yet_valid": sign(rsa_key, "RS256", "rsa1", nbf=now + 3600),
        "wrong_issuer": sign(rsa_key, "RS256", "rsa1", iss="https://evil.test/"),
        "wrong_audience": sign(rsa_key, "RS256", "rsa1", aud="someone-else"),
        "no_scope": sign(rsa_key, "RS256", "rsa1", scope="profile"),
        "rotated": sign(rotated_key, "RS256", "rsa2"),
        "alg_none": unsigned(),
        "key_confusion": key_confusion(),
        "hs256": jwt.encode(base, hs_secret, algorithm="HS256"),
    },
}))
"#;

const ISSUER: &str = "https://issuer.test/";
const AUDIENCE: &str = "wasmgate-tests";
const HS_SECRET: &str = "a-shared-secret-of-32-bytes-or-more!";

/// Keys, rotated keys and tokens minted by PyJWT.
fn mint() -> Value {
    let output = std::process::Command::new(crate::support::test_python())
        .args(["-c", MINT, ISSUER, AUDIENCE, HS_SECRET])
        .output()
        .expect("run PyJWT");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("minted JSON")
}

/// A JWKS endpoint on loopback whose key set can be replaced; counts its fetches.
async fn jwks_server(keys: &Value) -> (String, Document) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    (
        url,
        serve_document(listener, "application/json", keys.to_string()),
    )
}

async fn call(gateway: &Gateway, path: &str, token: Option<&str>) -> (u16, Value) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|value| ("authorization", value))
        .into_iter()
        .collect();
    get_json(&format!("{}{path}", gateway.url), &headers).await
}

#[tokio::test]
async fn tokens_from_an_independent_library_are_accepted_or_refused_as_aws_would() {
    let minted = tokio::task::spawn_blocking(mint).await.unwrap();
    let token = |name: &str| minted["tokens"][name].as_str().unwrap().to_string();
    let (jwks_url, jwks) = jwks_server(&minted["jwks"]).await;
    let backend = Backend::start("orders").await;
    let config = format!(
        r#"
[jwt_authorizers.issuer]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}", "another-audience"]
jwks_uri = "{jwks}"
jwks_refresh_seconds = 1
leeway_seconds = 5

[jwt_authorizers.shared]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
hs256_secret_env = "WASMGATE_TEST_HS256"

[apis.jwt]
type = "http"
[apis.jwt.stages.prod]
[apis.jwt.routes."GET /orders"]
jwt_authorizer = "issuer"
authorization_scopes = ["orders:read", "orders:admin"]
[apis.jwt.routes."GET /orders".integration]
type = "http"
uri = "http://{backend}/orders"
request_parameters = {{ "overwrite:header.x-sub" = "$context.authorizer.principalId", "overwrite:header.x-tenant" = "$context.authorizer.claims.tenant" }}
[apis.jwt.routes."GET /hs"]
jwt_authorizer = "shared"
integration = {{ type = "mock", body = "hs" }}
"#,
        jwks = jwks_url,
        backend = backend.addr,
    );
    let extra = Extra {
        env: &[("WASMGATE_TEST_HS256", HS_SECRET)],
        ..Extra::default()
    };
    let gateway = Gateway::start_with(&config, extra).await;

    let (status, seen) = call(&gateway, "/prod/orders", Some(&token("rs256"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        seen["headers"]["x-sub"], "ada",
        "claims reach the integration"
    );
    assert_eq!(seen["headers"]["x-tenant"], "acme");
    for accepted in ["rs512", "ps256", "es256", "eddsa"] {
        let (status, body) = call(&gateway, "/prod/orders", Some(&token(accepted))).await;
        assert_eq!(status, 200, "{accepted}: {body}");
    }
    let unauthorized = serde_json::json!({ "message": "Unauthorized" });
    for refused in [
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "alg_none",
        "key_confusion",
        "hs256",
    ] {
        let answer = call(&gateway, "/prod/orders", Some(&token(refused))).await;
        assert_eq!(answer, (401, unauthorized.clone()), "{refused}");
    }
    assert_eq!(
        call(&gateway, "/prod/orders", None).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        call(&gateway, "/prod/orders", Some("not.a.token")).await.0,
        401
    );
    let forbidden = serde_json::json!({ "message": "Forbidden" });
    assert_eq!(
        call(&gateway, "/prod/orders", Some(&token("no_scope"))).await,
        (403, forbidden),
        "a valid token without the route's scopes"
    );
    assert_eq!(
        call(&gateway, "/prod/hs", Some(&token("hs256"))).await.0,
        200
    );

    // Key rotation: an unknown kid is looked up again, but at most once per interval.
    let before = jwks.fetches.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(
            call(&gateway, "/prod/orders", Some(&token("rotated")))
                .await
                .0,
            401
        );
    }
    let during = jwks.fetches.load(Ordering::SeqCst) - before;
    assert!(
        during <= 1,
        "{during} fetches for 5 unknown-kid tokens within a second"
    );
    *jwks.text.lock().unwrap() = minted["rotated_jwks"].to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = call(&gateway, "/prod/orders", Some(&token("rotated"))).await;
    assert_eq!(status, 200, "the rotated key is fetched: {body}");
    assert_eq!(
        call(&gateway, "/prod/orders", Some(&token("rs256")))
            .await
            .0,
        200
    );
}

#[test]
fn jwt_authorizer_mistakes_are_config_errors() {
    let config = r#"[jwt_authorizers.no_keys]
issuer = "https://issuer.test/"
audiences = ["a"]

[jwt_authorizers.weak]
issuer = "https://issuer.test/"
audiences = ["a"]
jwks_uri = "http://127.0.0.1:1/jwks.json"
algorithms = ["HS256"]

[apis.a]
type = "http"
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
jwt_authorizer = "missing"
integration = { type = "mock" }
[apis.a.routes."GET /y"]
authorization_scopes = ["read"]
integration = { type = "mock" }
"#;
    assert_config_errors(
        "jwt.toml",
        config,
        &[
            (1, "`jwks_uri` or `jwks_file`"),
            (5, "`HS256` is not an accepted algorithm"),
            (15, "no JWT authorizer named `missing`"),
            (17, "scopes need a `jwt_authorizer`"),
        ],
    );
}

#[tokio::test]
async fn an_issuer_unreachable_at_startup_is_fetched_again_at_the_next_tokens() {
    let minted = tokio::task::spawn_blocking(mint).await.unwrap();
    let token = minted["tokens"]["rs256"].as_str().unwrap().to_string();
    let port = crate::support::free_port();
    let config = format!(
        r#"
[jwt_authorizers.issuer]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_uri = "http://127.0.0.1:{port}/jwks.json"
jwks_refresh_seconds = 300

[apis.jwt]
type = "http"
[apis.jwt.stages.prod]
[apis.jwt.routes."GET /orders"]
jwt_authorizer = "issuer"
integration = {{ type = "mock", body = "orders" }}
"#
    );
    let gateway = Gateway::start(&config).await;
    let (status, _) = call(&gateway, "/prod/orders", Some(&token)).await;
    assert_eq!(status, 401, "no keys yet: the issuer is down");
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let jwks = serve_document(listener, "application/json", minted["jwks"].to_string());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = call(&gateway, "/prod/orders", Some(&token)).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "valid tokens still refused 10 s after the issuer came up (refresh is 300 s)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        jwks.fetches.load(Ordering::SeqCst) <= 2,
        "fetches are bounded"
    );
}
