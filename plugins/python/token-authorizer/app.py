"""Token authorizer in Python: the twin of plugins/token-authorizer, built against the same WIT
world (`authorizer-plugin`) with componentize-py. Allows requests whose
`Authorization: Bearer <token>` is in the configured token list; 401 without a token, 403 for an
unknown one."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import authorizer, plugin
from wit_world.imports import config, request_head, types


def configured_tokens() -> dict:
    tokens = json.loads(config.get()).get("tokens")
    if not isinstance(tokens, dict) or not tokens:
        raise Err("`tokens` must list at least one token")
    return tokens


def bearer_token():
    value = request_head.header("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Plugin(exports.Plugin):
    def init(self) -> plugin.Manifest:
        configured_tokens()
        return plugin.Manifest(
            phases=plugin.Phases.AUTHORIZER,
            needs_request_body=False,
            needs_response_body=False,
            request_headers=["authorization"],
            response_headers=None,
        )


class Authorizer(exports.Authorizer):
    def authorize(self, body) -> authorizer.Decision:
        token = bearer_token()
        if token is None:
            return authorizer.Decision_Unauthorized()
        identity = configured_tokens().get(token)
        if identity is None:
            return authorizer.Decision_Forbidden()
        entries = [types.Entry(key=k, value=v) for k, v in identity.get("context", {}).items()]
        return authorizer.Decision_Allow(authorizer.Allow(principal=identity["principal"], context=entries))
