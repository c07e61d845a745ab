// Token authorizer in JavaScript: the twin of plugins/token-authorizer (Rust) and
// plugins/python/token-authorizer, built against the same WIT world (`authorizer-plugin`) with
// componentize-js and its default settings. Allows requests whose `Authorization: Bearer <token>`
// is in the configured token list; 401 without a token, 403 for an unknown one.
//
// componentize-js binds each exported interface to an exported object named in camelCase, each
// imported interface to an ES module; a `result`'s error is thrown, a variant is `{ tag, val }`,
// flags are an object of booleans, and `option` none is `undefined`.

import { get as configText } from "wasmgate:plugin/config@0.1.0";
import { header } from "wasmgate:plugin/request-head@0.1.0";

function configuredTokens() {
  const tokens = JSON.parse(configText()).tokens;
  if (typeof tokens !== "object" || tokens === null || Object.keys(tokens).length === 0) {
    throw "`tokens` must list at least one token";
  }
  return tokens;
}

function bearerToken() {
  const value = header("authorization");
  if (value === undefined) {
    return undefined;
  }
  const space = value.indexOf(" ");
  if (space < 0 || value.slice(0, space).toLowerCase() !== "bearer") {
    return undefined;
  }
  const token = value.slice(space + 1).trim();
  return token === "" ? undefined : token;
}

export const plugin = {
  init() {
    configuredTokens();
    return {
      phases: { authorizer: true },
      needsRequestBody: false,
      needsResponseBody: false,
      requestHeaders: ["authorization"],
      responseHeaders: undefined,
    };
  },
};

export const authorizer = {
  authorize(_body) {
    const token = bearerToken();
    if (token === undefined) {
      return { tag: "unauthorized" };
    }
    const identity = configuredTokens()[token];
    if (identity === undefined) {
      return { tag: "forbidden" };
    }
    const context = Object.entries(identity.context ?? {}).map(([key, value]) => ({ key, value }));
    return { tag: "allow", val: { principal: identity.principal, context } };
  },
};
